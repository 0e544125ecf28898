//! The onboarding emails after a purchase (`order.onboarding`): the welcome, then tips a few
//! days later, to the buyer, with a link to their account in the shop's portal.

use askama::Template;
use bursar_domain::event::Event;

#[derive(Template)]
#[template(path = "email/onboarding.txt", escape = "none")]
struct OnboardingText<'a> {
    step: &'a str,
    name: Option<&'a str>,
    shop: &'a str,
    products: &'a str,
    order_id: &'a str,
    account_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/onboarding.html")]
struct OnboardingHtml<'a> {
    step: &'a str,
    name: Option<&'a str>,
    shop: &'a str,
    products: &'a str,
    order_id: &'a str,
    account_url: &'a str,
}

/// A step's email as the subscriber stores it.
pub struct Draft {
    pub template: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The step's email; none for a buyer without an email address or a step this server does
/// not know.
pub fn draft(event: &Event, public_url: &str) -> Result<Option<Draft>, String> {
    let payload = &event.payload;
    let (Some(step), Some(to), Some(order_id)) = (
        payload["step"].as_str(),
        payload["email"].as_str(),
        payload["object"]["id"].as_str(),
    ) else {
        return Ok(None);
    };
    let subject_of = |shop: &str| match step {
        "welcome" => Some(format!("Welcome to {shop}")),
        "tips" => Some(format!("Three tips for your purchase from {shop}")),
        _ => None,
    };
    let shop = payload["shop_name"].as_str().unwrap_or("our shop");
    let Some(subject) = subject_of(shop) else {
        return Ok(None);
    };
    let products: Vec<&str> = payload["object"]["lines"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l["product_name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let account_url = match payload["shop_handle"].as_str() {
        Some(handle) => format!("{}/portal/{handle}", public_url.trim_end_matches('/')),
        None => public_url.to_owned(),
    };
    let (name, products) = (payload["name"].as_str(), products.join(", "));
    let text = OnboardingText {
        step,
        name,
        shop,
        products: &products,
        order_id,
        account_url: &account_url,
    }
    .render()
    .map_err(|e| e.to_string())?;
    let html = OnboardingHtml {
        step,
        name,
        shop,
        products: &products,
        order_id,
        account_url: &account_url,
    }
    .render()
    .map_err(|e| e.to_string())?;
    Ok(Some(Draft {
        template: format!("onboarding_{step}"),
        to: to.to_owned(),
        subject,
        text,
        html,
    }))
}
