//! Sizes of the types per-token state is made of (for the memory figures).
fn main() {
    use std::mem::size_of;
    println!("Use {}", size_of::<tokenhound::model::Use>());
    println!("TokenState {}", size_of::<tokenhound::engine::state::TokenState>());
    println!("TokenInfo {}", size_of::<tokenhound::model::TokenInfo>());
    println!("SourcePos {}", size_of::<tokenhound::model::SourcePos>());
    println!("Option<IpAddr> {}", size_of::<Option<std::net::IpAddr>>());
    println!("AccessEvent {}", size_of::<tokenhound::model::AccessEvent>());
    println!("Parsed {}", size_of::<tokenhound::ingest::Parsed>());
    println!("RawClaims {}", size_of::<tokenhound::token::RawClaims>());
}
