use std::borrow::Cow;
#[derive(serde::Deserialize)]
struct S<'a> {
    #[serde(borrow)]
    a: Cow<'a, str>,
    #[serde(borrow)]
    b: Option<Cow<'a, str>>,
    c: Option<&'a str>,
}
fn main() {
    let j = br#"{"a":"hello","b":"world","c":"x"}"#;
    let s: S = sonic_rs::from_slice(j).unwrap();
    println!(
        "sonic a borrowed: {}, b borrowed: {}",
        matches!(s.a, Cow::Borrowed(_)),
        matches!(s.b, Some(Cow::Borrowed(_)))
    );
    let s: S = serde_json::from_slice(j).unwrap();
    println!(
        "serde_json a borrowed: {}, b borrowed: {} {:?}",
        matches!(s.a, Cow::Borrowed(_)),
        matches!(s.b, Some(Cow::Borrowed(_))),
        s.c
    );
}
