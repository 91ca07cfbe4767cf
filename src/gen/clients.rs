//! The client software of the generated users, by share; one of them is
//! the planted root cause (a leaky app version).

pub const LEAKY_UA: &str = "AcmeMobile/3.2.1 (Android 14; Pixel 8)";

pub struct Client {
    pub id: &'static str,
    pub ua: &'static str,
    /// The UA after a browser auto-update (same family and OS).
    pub updated: Option<&'static str>,
    pub mobile: bool,
}

pub const CLIENTS: &[(u32, Client)] = &[
    (30, Client { id: "web-portal", ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.110 Safari/537.36", updated: Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.85 Safari/537.36"), mobile: false }),
    (10, Client { id: "web-portal", ua: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36", updated: Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.85 Safari/537.36"), mobile: false }),
    (10, Client { id: "web-portal", ua: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0", updated: Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0"), mobile: false }),
    (10, Client { id: "web-portal", ua: "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", updated: None, mobile: false }),
    (8, Client { id: "mobile-android", ua: "AcmeMobile/3.1.0 (Android 13; SM-G991B)", updated: None, mobile: true }),
    (8, Client { id: "mobile-android", ua: "AcmeMobile/3.2.0 (Android 14; Pixel 7)", updated: None, mobile: true }),
    (6, Client { id: "mobile-android", ua: LEAKY_UA, updated: None, mobile: true }),
    (18, Client { id: "mobile-ios", ua: "AcmeMobile/3.2.1 (iOS 17.1; iPhone15,2)", updated: None, mobile: true }),
];
