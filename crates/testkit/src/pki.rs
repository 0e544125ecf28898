//! Throwaway certificates for PayPal's signature tests (the adapter's, and the fake PayPal's), made at run time with the `openssl` command
//! line (not PayPal's, never committed): a trusted self-signed RSA-2048 certificate with its key,
//! and another certificate whose key signed nothing. Both are valid from 2000-01-01T00:00:00Z to
//! 2099-12-31T23:59:59Z, so the tests' fixed clocks fall inside them whatever the machine's date.
//! `openssl` also signs transmissions, to check the verifier against an implementation other
//! than its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The certificates of one test process, in a folder of the system's temporary directory.
pub struct TestPki {
    dir: PathBuf,
    /// The trusted certificate, PEM.
    pub cert: String,
    /// The test key, PKCS#8 PEM.
    pub key: String,
    /// A certificate that did not sign, PEM.
    pub other_cert: String,
}

/// The process's certificates, made on first use.
pub fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(TestPki::make)
}

impl TestPki {
    fn make() -> TestPki {
        let dir = std::env::temp_dir().join(format!("bursar-paypal-pki-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a folder for the test certificates");
        self_signed(&dir, "trusted", "TEST ONLY - not a PayPal certificate");
        self_signed(&dir, "other", "TEST ONLY - another signer, not PayPal");
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).expect("a certificate openssl wrote")
        };
        TestPki {
            cert: read("trusted-cert.pem"),
            key: read("trusted-key.pem"),
            other_cert: read("other-cert.pem"),
            dir,
        }
    }

    /// `openssl dgst -sha256 -sign` of `message` with the test key, base64.
    pub fn openssl_signature(&self, message: &str) -> String {
        let input = self
            .dir
            .join(format!("message-{:016x}", fingerprint(message)));
        std::fs::write(&input, message).expect("the message to sign, written");
        let signature = openssl(
            &self.dir,
            &["dgst", "-sha256", "-sign", "trusted-key.pem"],
            Some(&input),
        );
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(signature)
    }
}

/// A key (`{name}-key.pem`) and its self-signed certificate (`{name}-cert.pem`) in `dir`.
fn self_signed(dir: &Path, name: &str, common_name: &str) {
    let key = format!("{name}-key.pem");
    let request = format!("{name}.csr");
    let config = format!("{name}.cnf");
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &key,
        ],
        None,
    );
    let subject = format!("/CN={common_name}");
    openssl(
        dir,
        &[
            "req", "-new", "-key", &key, "-subj", &subject, "-out", &request,
        ],
        None,
    );
    std::fs::write(dir.join(format!("{name}.index")), "").expect("openssl ca's database");
    std::fs::write(dir.join(&config), ca_config(dir, name)).expect("openssl ca's configuration");
    let cert = format!("{name}-cert.pem");
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-selfsign",
            "-notext",
            "-config",
            &config,
            "-keyfile",
            &key,
            "-in",
            &request,
            "-startdate",
            "20000101000000Z",
            "-enddate",
            "20991231235959Z",
            "-out",
            &cert,
        ],
        None,
    );
}

/// The smallest `openssl ca` configuration that signs any subject with SHA-256.
fn ca_config(dir: &Path, name: &str) -> String {
    let dir = dir.display();
    format!(
        "[ca]\ndefault_ca = test\n[test]\ndatabase = {dir}/{name}.index\n\
         new_certs_dir = {dir}\nrand_serial = yes\ndefault_md = sha256\npolicy = any\n\
         [any]\ncommonName = supplied\n"
    )
}

/// Runs `openssl args` in `dir` (standard input from `input`) and returns its standard output;
/// panics with its standard error when it fails.
fn openssl(dir: &Path, args: &[&str], input: Option<&Path>) -> Vec<u8> {
    let mut command = Command::new("openssl");
    command.args(args).current_dir(dir);
    if let Some(input) = input {
        command.stdin(std::fs::File::open(input).expect("the message to sign"));
    }
    let output = command
        .output()
        .expect("the signature tests need the `openssl` command line");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn fingerprint(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}
