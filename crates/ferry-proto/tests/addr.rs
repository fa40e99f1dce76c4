//! Tests of the PORT/PASV/EPRT/EPSV address codecs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use ferry_proto::addr::{
    epsv_reply_text, format_eprt, format_port, parse_eprt, parse_epsv_reply, parse_pasv_reply,
    parse_port, pasv_reply_text, AddrError,
};
use proptest::prelude::*;

fn v4(a: [u8; 4], port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(a), port)
}

#[test]
fn port_real_world() {
    assert_eq!(parse_port("127,0,0,1,4,1"), Ok(v4([127, 0, 0, 1], 1025)));
    assert_eq!(
        parse_port("192,168,1,20,195,80"),
        Ok(v4([192, 168, 1, 20], 50000))
    );
    assert_eq!(parse_port("0,0,0,0,0,0"), Ok(v4([0, 0, 0, 0], 0)));
    assert_eq!(
        parse_port("255,255,255,255,255,255"),
        Ok(v4([255; 4], 65535))
    );
}

#[test]
fn port_tolerates_white_space() {
    assert_eq!(
        parse_port(" 10, 0 ,0,1 ,\t4,1 "),
        Ok(v4([10, 0, 0, 1], 1025))
    );
}

#[test]
fn port_rejects_malformed() {
    for bad in [
        "",
        "1,2,3,4,5",
        "1,2,3,4,5,6,7",
        "256,0,0,1,4,1",
        "1,2,3,4,5,256",
        "1,2,3,4,5,-1",
        "1,2,3,4,5,",
        ",1,2,3,4,5",
        "1,2,3,4,5,6,",
        "1.2.3.4.5.6",
        "a,b,c,d,e,f",
        "1,2,3,4,5,0006",
        "1,2,3,4,5,+6",
        "1,2,3,4,5,6 7",
        "1,,2,3,4,5",
        "127,0,0,1,4,1\0",
    ] {
        assert!(
            matches!(parse_port(bad), Err(AddrError::Malformed(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn port_format() {
    assert_eq!(format_port(v4([127, 0, 0, 1], 1025)), "127,0,0,1,4,1");
    assert_eq!(format_port(v4([10, 1, 2, 3], 65535)), "10,1,2,3,255,255");
}

#[test]
fn pasv_reply() {
    let a = v4([192, 168, 0, 7], 50001);
    assert_eq!(
        pasv_reply_text(a),
        "Entering Passive Mode (192,168,0,7,195,81)."
    );
    assert_eq!(parse_pasv_reply(&pasv_reply_text(a)), Ok(a));
    // Variants seen in the wild.
    assert_eq!(
        parse_pasv_reply("Entering Passive Mode 192,168,0,7,195,81"),
        Ok(a)
    );
    assert_eq!(parse_pasv_reply("=192,168,0,7,195,81"), Ok(a));
    assert_eq!(
        parse_pasv_reply("227 Entering Passive Mode (192,168,0,7,195,81)"),
        Ok(a)
    );
    assert_eq!(
        parse_pasv_reply("Passive mode on (1999 rules) (192, 168, 0, 7, 195, 81)"),
        Ok(a)
    );
    // A number that is too large, then a valid address.
    assert_eq!(
        parse_pasv_reply("(999,1,1,1,1,1) (192,168,0,7,195,81)"),
        Ok(a)
    );
}

#[test]
fn pasv_reply_malformed() {
    for bad in [
        "",
        "Entering Passive Mode",
        "(1,2,3,4,5)",
        "(1,2,3,4,5,256)",
        "(1,2,3,4,5,1000)",
        "(1234,2,3,4,5,6)",
        "Entering Extended Passive Mode (|||5000|)",
    ] {
        assert!(parse_pasv_reply(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn eprt_real_world() {
    assert_eq!(
        parse_eprt("|2|::1|5282|"),
        Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5282))
    );
    assert_eq!(
        parse_eprt("|1|132.235.1.2|6275|"),
        Ok(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(132, 235, 1, 2)),
            6275
        ))
    );
    assert_eq!(
        parse_eprt("|2|1080::8:800:200C:417A|5282|"),
        Ok(SocketAddr::new(
            "1080::8:800:200C:417A".parse::<IpAddr>().unwrap(),
            5282
        ))
    );
    // Other delimiters (RFC 2428 allows any of ASCII 33..=126).
    assert_eq!(
        parse_eprt("!1!10.0.0.1!21!"),
        Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 21))
    );
    assert_eq!(
        parse_eprt("~2~fe80::1~65535~"),
        Ok("[fe80::1]:65535".parse().unwrap())
    );
    // IPv4-mapped IPv6 address in family 2.
    assert_eq!(
        parse_eprt("|2|::ffff:10.0.0.1|4000|"),
        Ok("[::ffff:10.0.0.1]:4000".parse().unwrap())
    );
}

#[test]
fn eprt_unsupported_family() {
    assert_eq!(
        parse_eprt("|3|1.2.3.4|5000|"),
        Err(AddrError::UnsupportedFamily(3))
    );
    assert_eq!(
        parse_eprt("|0|x|5000|"),
        Err(AddrError::UnsupportedFamily(0))
    );
}

#[test]
fn eprt_malformed() {
    for bad in [
        "",
        "|",
        "||||",
        "|1|1.2.3.4|5000",
        "1|1.2.3.4|5000|",
        "|1|1.2.3.4|5000|x",
        "|1|1.2.3.4|5000||",
        "|1|::1|5000|",
        "|2|1.2.3.4|5000|",
        "|1|1.2.3.4|0|",
        "|1|1.2.3.4|65536|",
        "|1|1.2.3.4|-1|",
        "|1|1.2.3.4|+80|",
        "|1|1.2.3.400|80|",
        "|1|01.2.3.4|80|",
        "|a|1.2.3.4|80|",
        "|99999|1.2.3.4|80|",
        "|1|1.2.3.4!80!",
        " 1 1.2.3.4 80 ",
        "\u{7f}1\u{7f}1.2.3.4\u{7f}80\u{7f}",
        "é1é1.2.3.4é80é",
        "|2|fe80::1%eth0|80|",
        "|2|[::1]|80|",
    ] {
        assert!(
            matches!(parse_eprt(bad), Err(AddrError::Malformed(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn eprt_format() {
    assert_eq!(format_eprt("[::1]:5282".parse().unwrap()), "|2|::1|5282|");
    assert_eq!(
        format_eprt("127.0.0.1:21".parse().unwrap()),
        "|1|127.0.0.1|21|"
    );
}

#[test]
fn epsv_reply() {
    assert_eq!(
        epsv_reply_text(6446),
        "Entering Extended Passive Mode (|||6446|)"
    );
    assert_eq!(parse_epsv_reply(&epsv_reply_text(6446)), Ok(6446));
    assert_eq!(
        parse_epsv_reply("Entering Extended Passive Mode (!!!1!)."),
        Ok(1)
    );
    assert_eq!(parse_epsv_reply("EPSV ok |||65535|"), Ok(65535));
    for bad in [
        "",
        "(|||0|)",
        "(|||65536|)",
        "(||6446|)",
        "(|||6446)",
        "(|!|6446|)",
        "(1116446111)",
        "(|||x|)",
        "(||||)",
    ] {
        assert!(parse_epsv_reply(bad).is_err(), "{bad:?}");
    }
}

fn any_socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), 1u16..).prop_map(|(a, p)| SocketAddr::new(IpAddr::V4(a.into()), p)),
        (any::<[u8; 16]>(), 1u16..).prop_map(|(a, p)| SocketAddr::new(IpAddr::V6(a.into()), p)),
    ]
}

proptest! {
    #[test]
    fn port_round_trip(a in any::<[u8; 4]>(), port in any::<u16>()) {
        let addr = v4(a, port);
        prop_assert_eq!(parse_port(&format_port(addr)), Ok(addr));
        prop_assert_eq!(parse_pasv_reply(&pasv_reply_text(addr)), Ok(addr));
    }

    #[test]
    fn eprt_round_trip(addr in any_socket_addr(), d in 33u8..=126) {
        prop_assert_eq!(parse_eprt(&format_eprt(addr)), Ok(addr));
        // Any other delimiter that cannot occur inside the fields works as well.
        let d = char::from(d);
        if !d.is_ascii_hexdigit() && d != ':' && d != '.' {
            let text = format_eprt(addr).replace('|', &d.to_string());
            prop_assert_eq!(parse_eprt(&text), Ok(addr));
        }
    }

    #[test]
    fn epsv_round_trip(port in 1u16..) {
        prop_assert_eq!(parse_epsv_reply(&epsv_reply_text(port)), Ok(port));
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,64}", t in "[0-9,| ().:a-f]{0,40}") {
        for x in [&s, &t] {
            let _ = parse_port(x);
            let _ = parse_pasv_reply(x);
            let _ = parse_eprt(x);
            let _ = parse_epsv_reply(x);
        }
    }

    #[test]
    fn port_accepts_exactly_bytes(nums in proptest::collection::vec(0u32..400, 6)) {
        let text = nums.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let ok = nums.iter().all(|&n| n <= 255);
        prop_assert_eq!(parse_port(&text).is_ok(), ok);
    }
}
