//! The web pages: handlebars templates in `templates/web/` (built in, overridable), HTML
//! escaping on, strict, so a missing value is an error and never a blank on a page.

use std::path::Path;

use handlebars::Handlebars;
use serde_json::Value;

/// Page templates (the layout is a partial every page wraps itself in).
const PAGES: [(&str, &str); 8] = [
    ("layout", include_str!("../../../templates/web/layout.hbs")),
    ("home", include_str!("../../../templates/web/home.hbs")),
    (
        "request",
        include_str!("../../../templates/web/request.hbs"),
    ),
    ("sent", include_str!("../../../templates/web/sent.hbs")),
    ("calls", include_str!("../../../templates/web/calls.hbs")),
    ("status", include_str!("../../../templates/web/status.hbs")),
    ("login", include_str!("../../../templates/web/login.hbs")),
    (
        "message",
        include_str!("../../../templates/web/message.hbs"),
    ),
];

/// Static files: stylesheet and the call form's look-up script.
pub const STYLE: &str = include_str!("../../../templates/web/static/site.css");
/// The call form's caller look-up, an enhancement: the form works without it.
pub const CALLS_SCRIPT: &str = include_str!("../../../templates/web/static/calls.js");

/// The compiled page templates.
#[derive(Debug)]
pub struct Pages {
    registry: Handlebars<'static>,
}

impl Pages {
    /// Compiles the built-in pages, each replaced by `dir/<name>.hbs` when present.
    pub fn load(dir: &Path) -> Result<Pages, String> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.set_dev_mode(false);
        for (name, built_in) in PAGES {
            let path = dir.join(format!("{name}.hbs"));
            let (text, origin) = match std::fs::read_to_string(&path) {
                Ok(text) => (text, path.display().to_string()),
                Err(_) => (built_in.to_owned(), format!("built-in web/{name}.hbs")),
            };
            let compiled = if name == "layout" {
                registry.register_partial(name, text)
            } else {
                registry.register_template_string(name, text)
            };
            compiled.map_err(|e| format!("{origin}: {e}"))?;
        }
        Ok(Pages { registry })
    }

    /// Renders a page; a failure is logged and becomes a plain apology, never a blank page.
    pub fn render(&self, name: &str, data: &Value) -> Result<String, String> {
        self.registry
            .render(name, data)
            .map_err(|e| format!("web/{name}.hbs: {e}"))
    }
}
