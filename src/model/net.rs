//! Network prefixes of client addresses, in one place: the engine compares
//! them (ip-drift, concurrent-use by prefix), forensics names them.

use std::net::IpAddr;

/// The network prefix of an address as a number: (4 or 6, the address with
/// the host bits cleared), `v4` / `v6` bits long.
pub fn prefix_of(ip: IpAddr, v4: u8, v6: u8) -> (u8, u128) {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a) as u128;
            let mask = if v4 == 0 { 0 } else { (u32::MAX << (32 - v4.min(32))) as u128 };
            (4, bits & mask)
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = if v6 == 0 { 0 } else { u128::MAX << (128 - v6.min(128)) };
            (6, bits & mask)
        }
    }
}

/// The prefix as people write it (`198.18.1.0/24`, `2001:db8:1::/48`); an
/// address that does not parse is returned as it is.
///
/// ```
/// assert_eq!(tokenhound::model::prefix_name("198.18.1.77", 24, 48), "198.18.1.0/24");
/// assert_eq!(tokenhound::model::prefix_name("2001:db8:1:2::5", 24, 48), "2001:db8:1::/48");
/// ```
pub fn prefix_name(ip: &str, v4: u8, v6: u8) -> String {
    let Ok(a) = ip.parse::<IpAddr>() else { return ip.to_string() };
    match prefix_of(a, v4, v6) {
        (4, bits) => format!("{}/{}", std::net::Ipv4Addr::from(bits as u32), v4.min(32)),
        (_, bits) => format!("{}/{}", std::net::Ipv6Addr::from(bits), v6.min(128)),
    }
}
