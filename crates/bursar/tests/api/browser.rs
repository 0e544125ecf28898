//! A real browser for tests: headless Chromium driven over WebDriver (chromedriver on a
//! loopback port, plain JSON calls with reqwest). Screenshots go in `target/screenshots/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;

use crate::helpers::*;

/// Chromium and chromedriver, or `None` (after saying the test skips) where no Chromium is
/// installed; a Chromium without its driver fails the test.
pub fn browser_binaries(test: &str) -> Option<(PathBuf, PathBuf)> {
    let Some(chromium) = find_binary(&["chromium", "chromium-browser", "google-chrome"]) else {
        println!(
            "SKIPPED {test}: no chromium binary on PATH (apt-get install chromium chromium-driver)"
        );
        return None;
    };
    let driver = find_binary(&["chromedriver"]).unwrap_or_else(|| {
        panic!(
            "{} is installed but chromedriver is not: apt-get install chromium-driver",
            chromium.display()
        )
    });
    Some((chromium, driver))
}

pub fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// `target/screenshots/` of the workspace (or of `CARGO_TARGET_DIR`).
pub fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver on a loopback port; killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
    client: reqwest::Client,
    profiles: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // chromedriver quits a browser in the background, and not at all once it is killed or
        // when a failed assertion skipped `close`: end every process that runs on one of this
        // driver's profiles (its own temporary directory), by id.
        let profiles = self.profiles.path().display().to_string();
        let Ok(processes) = std::fs::read_dir("/proc") else {
            return;
        };
        for process in processes.flatten() {
            let pid = process.file_name().to_string_lossy().into_owned();
            if !pid.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let cmdline = std::fs::read(process.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&profiles) {
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
        }
    }
}

impl Driver {
    pub async fn start(binary: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            profiles: tempfile::tempdir().unwrap(),
        };
        for _ in 0..200 {
            if let Ok(response) = driver
                .client
                .get(format!("{}/status", driver.url))
                .send()
                .await
            {
                if response
                    .json::<Value>()
                    .await
                    .is_ok_and(|s| s["value"]["ready"] == true)
                {
                    return driver;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("chromedriver did not become ready");
    }

    /// A new browser: a desktop window, or a phone of `(width, height)` CSS pixels.
    pub async fn session(&self, chromium: &Path, phone: Option<(u32, u32)>) -> Session {
        let profile = self
            .profiles
            .path()
            .join(format!("profile-{}", phone.is_some()));
        let mut options = json!({
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                "--force-device-scale-factor=1", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        if let Some((width, height)) = phone {
            options["mobileEmulation"] = json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2, "touch": true},
                "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36",
            });
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}});
        let response: Value = self
            .client
            .post(format!("{}/session", self.url))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {response}"))
            .to_owned();
        Session {
            url: format!("{}/session/{id}", self.url),
            client: self.client.clone(),
        }
    }
}

pub struct Session {
    url: String,
    client: reqwest::Client,
}

impl Session {
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        let value = response["value"].clone();
        if value.get("error").is_some_and(Value::is_string) {
            panic!("WebDriver {path}: {}", value);
        }
        value
    }

    pub async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn js(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Sets the window so that the page's viewport is `width` x `height` CSS pixels.
    pub async fn set_viewport(&self, width: i64, height: i64) {
        for _ in 0..3 {
            let inner = self.js("return [innerWidth, innerHeight]").await;
            let (w, h) = (inner[0].as_i64().unwrap(), inner[1].as_i64().unwrap());
            if (w, h) == (width, height) {
                return;
            }
            let rect = self.call(reqwest::Method::GET, "/window/rect", None).await;
            let body = json!({
                "width": rect["width"].as_i64().unwrap() + width - w,
                "height": rect["height"].as_i64().unwrap() + height - h,
            });
            self.call(reqwest::Method::POST, "/window/rect", Some(body))
                .await;
        }
    }

    pub async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Types as a user does: key events, so the page's input handler runs.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    pub async fn screenshot(&self, path: &Path) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    pub async fn close(self) {
        self.client.delete(&self.url).send().await.unwrap();
    }
}

/// The axe-core version the accessibility checks run.
const AXE_CORE: &str = "axe-core@4.11.0";

/// axe-core's script (`axe.min.js`), installed from npm under the target directory on first
/// use, so the README's one test command needs nothing but npm for it.
pub fn axe_script() -> String {
    static SCRIPT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let mut script = SCRIPT.lock().unwrap();
    if let Some(source) = script.as_ref() {
        return source.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("axe-core");
    let file = dir.join("node_modules/axe-core/axe.min.js");
    if !file.exists() {
        let installed = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg(AXE_CORE)
            .status()
            .expect("npm is needed for the accessibility checks (Debian: apt-get install npm)")
            .success();
        assert!(installed, "npm could not install {AXE_CORE}");
    }
    let source = std::fs::read_to_string(&file).unwrap();
    *script = Some(source.clone());
    source
}

impl Session {
    /// axe-core's serious and critical violations on the open page (WCAG 2.1 A and AA rules
    /// and best practices), as `rule: selectors` lines.
    pub async fn accessibility_violations(&self, axe: &str) -> Vec<String> {
        let script = format!(
            "{axe}\n;var done = arguments[arguments.length - 1];\
             axe.run(document, {{resultTypes: ['violations']}})\
               .then(r => done(r.violations.filter(v => v.impact == 'serious' || v.impact == 'critical')\
                 .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))\
               .catch(e => done(['axe failed: ' + e]));"
        );
        let found = self
            .call(
                reqwest::Method::POST,
                "/execute/async",
                Some(json!({"script": script, "args": []})),
            )
            .await;
        found
            .as_array()
            .unwrap_or_else(|| panic!("axe answered {found}"))
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Session {
    /// Presses and releases `key` (a WebDriver key code such as `"\u{E004}"`, Tab).
    pub async fn press(&self, key: &str) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]});
        self.call(reqwest::Method::POST, "/actions", Some(actions))
            .await;
    }

    /// Presses Tab until the focused element matches `css` (at most 40 times), as a keyboard
    /// user moves through a page.
    pub async fn tab_to(&self, css: &str) {
        for _ in 0..40 {
            self.press("\u{E004}").await;
            let focused = self
                .js(&format!(
                    "return !!document.activeElement && document.activeElement.matches({css:?})"
                ))
                .await;
            if focused == true {
                return;
            }
        }
        panic!("Tab never reached {css}");
    }

    /// Types `text` into the focused element, key by key.
    pub async fn type_keys(&self, text: &str) {
        let keys: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                let c = c.to_string();
                [
                    json!({"type": "keyDown", "value": c}),
                    json!({"type": "keyUp", "value": c}),
                ]
            })
            .collect();
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": keys}]});
        self.call(reqwest::Method::POST, "/actions", Some(actions))
            .await;
    }
}
