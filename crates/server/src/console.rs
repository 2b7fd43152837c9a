//! The web console's files (`crates/server/console/`), embedded in the binary and served at
//! `/console`. The console is static: it signs every control-plane call in the browser with the
//! user's own key (SigV4), so it adds no API and no authority to the server. README "Web
//! console" says when it is on.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

/// Path under `/console/` → (content type, bytes). `/console` and `/console/` are `index.html`.
const FILES: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../console/index.html"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../console/console.css"),
    ),
    (
        "js/api.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/js/api.js"),
    ),
    (
        "js/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/js/app.js"),
    ),
    (
        "js/chat.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/js/chat.js"),
    ),
    (
        "js/dom.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/js/dom.js"),
    ),
    (
        "js/logging.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/js/logging.js"),
    ),
    (
        "js/room.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/js/room.js"),
    ),
    (
        "js/rooms.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/js/rooms.js"),
    ),
    (
        "js/sigv4.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/js/sigv4.js"),
    ),
];

/// Nothing but this server: scripts, styles, fetch and the chat WebSocket are same-origin
/// only (`'self'` covers `ws:`/`wss:` to the same host), and no page may frame the console.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Whether `path` belongs to the console.
pub fn is_console_path(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// The response for `GET path` (a console path).
pub fn serve(path: &str) -> Response {
    // Once: `/console/console.css` names `console.css` (trim_start_matches would strip twice).
    let name = path.strip_prefix("/console").unwrap_or(path);
    let name = name.strip_prefix('/').unwrap_or(name);
    let name = if name.is_empty() { "index.html" } else { name };
    let Some((_, content_type, text)) = FILES.iter().find(|(file, _, _)| *file == name) else {
        return plain(StatusCode::NOT_FOUND, "not found");
    };
    let mut response = Response::new(Body::from(*text));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The files change with the binary; a browser must not keep an old console after an upgrade.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_pages_load_is_embedded() {
        let index = FILES[0].2;
        assert!(index.contains("/console/js/app.js") && index.contains("/console/console.css"));
        // Every module imported by a module is in the table.
        for (_, _, text) in FILES {
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let module = line.rsplit("from '").next().unwrap().trim_end_matches("';");
                let name = format!("js/{}", module.trim_start_matches("./"));
                assert!(
                    FILES.iter().any(|(f, _, _)| *f == name),
                    "{name} is not embedded"
                );
            }
        }
    }

    #[test]
    fn paths() {
        assert!(is_console_path("/console") && is_console_path("/console/js/app.js"));
        assert!(!is_console_path("/consoles") && !is_console_path("/CreateRoom"));
        assert_eq!(serve("/console").status(), StatusCode::OK);
        assert_eq!(serve("/console/").status(), StatusCode::OK);
        assert_eq!(serve("/console/js/sigv4.js").status(), StatusCode::OK);
        assert_eq!(serve("/console/console.css").status(), StatusCode::OK);
        assert_eq!(
            serve("/console/../Cargo.toml").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(serve("/console/nope.js").status(), StatusCode::NOT_FOUND);
    }
}
