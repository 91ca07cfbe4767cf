//! User-agent classification for ua-drift: family, OS, and kind (browser,
//! app, script client). Minor version bumps never change the class.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UaKind {
    Browser,
    App,
    Script,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UaClass {
    pub family: &'static str,
    pub os: &'static str,
    pub kind: UaKind,
}

const SCRIPTS: &[(&str, &str)] = &[
    ("curl/", "curl"),
    ("wget/", "Wget"),
    ("python-requests/", "python-requests"),
    ("python-urllib", "python-urllib"),
    ("python-httpx/", "httpx"),
    ("aiohttp/", "aiohttp"),
    ("go-http-client/", "Go-http-client"),
    ("java/", "Java"),
    ("apache-httpclient/", "Apache-HttpClient"),
    ("libwww-perl/", "libwww-perl"),
    ("powershell/", "PowerShell"),
    ("postmanruntime/", "PostmanRuntime"),
    ("insomnia/", "Insomnia"),
    ("axios/", "axios"),
    ("node-fetch", "node-fetch"),
    ("undici", "undici"),
    ("ruby", "Ruby"),
    ("guzzlehttp/", "GuzzleHttp"),
    ("scrapy/", "Scrapy"),
    ("httpie/", "HTTPie"),
    ("okhttp/", "okhttp"),
];

fn os_of(low: &str) -> &'static str {
    if low.contains("windows") {
        "Windows"
    } else if low.contains("android") {
        "Android"
    } else if low.contains("iphone") || low.contains("ipad") || low.contains("ios") {
        "iOS"
    } else if low.contains("mac os x") || low.contains("macintosh") || low.contains("macos") {
        "macOS"
    } else if low.contains("cros") {
        "ChromeOS"
    } else if low.contains("linux") {
        "Linux"
    } else {
        ""
    }
}

/// Classify a user agent string.
pub fn classify(ua: &str) -> UaClass {
    let low = ua.trim().to_ascii_lowercase();
    for (needle, family) in SCRIPTS {
        if low.starts_with(needle) || (low.contains(needle) && !low.starts_with("mozilla/")) {
            return UaClass { family, os: os_of(&low), kind: UaKind::Script };
        }
    }
    if low.starts_with("mozilla/") {
        let family = if low.contains("edg/") || low.contains("edga/") || low.contains("edgios/") {
            "Edge"
        } else if low.contains("opr/") {
            "Opera"
        } else if low.contains("firefox/") || low.contains("fxios/") {
            "Firefox"
        } else if low.contains("chrome/") || low.contains("crios/") {
            "Chrome"
        } else if low.contains("safari/") {
            "Safari"
        } else {
            "Mozilla"
        };
        return UaClass { family, os: os_of(&low), kind: UaKind::Browser };
    }
    // `AppName/1.2.3 (platform)`: a native app.
    if low.contains('/') && !low.is_empty() {
        return UaClass { family: "app", os: os_of(&low), kind: UaKind::App };
    }
    UaClass { family: "", os: os_of(&low), kind: UaKind::Unknown }
}

/// The app name of an `AppName/version` user agent (for reports).
pub fn product(ua: &str) -> &str {
    ua.split(['/', ' ']).next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        let chrome2 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.85 Safari/537.36";
        let cases: &[(&str, &str, &str, UaKind)] = &[
            (chrome, "Chrome", "Windows", UaKind::Browser),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Safari", "iOS", UaKind::Browser),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "Firefox", "Linux", UaKind::Browser),
            ("curl/8.4.0", "curl", "", UaKind::Script),
            ("python-requests/2.31.0", "python-requests", "", UaKind::Script),
            ("Go-http-client/1.1", "Go-http-client", "", UaKind::Script),
            ("AcmeMobile/3.2.1 (Android 14; Pixel 8)", "app", "Android", UaKind::App),
        ];
        for (ua, fam, os, kind) in cases {
            let c = classify(ua);
            assert_eq!((c.family, c.os, c.kind), (*fam, *os, *kind), "{ua}");
        }
        assert_eq!(classify(chrome), classify(chrome2), "a version bump is not a change");
        assert_eq!(product("AcmeMobile/3.2.1 (Android)"), "AcmeMobile");
    }
}
