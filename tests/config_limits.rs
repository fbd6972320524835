//! Limits of the configuration that the data path's types set (issue 8,
//! defect 15): more frontends than a service id can number are refused, with
//! the field named, rather than wrapped.

use natrix::config::{Config, Problem, MAX_FRONTENDS};

/// `n` frontends, each with its own rule on one empty pool.
fn frontends(n: usize) -> String {
    let mut t = String::from(
        "[appliance]\nmac = \"02:00:00:00:00:01\"\ngateway_mac = \"02:00:00:00:00:fe\"\n\n",
    );
    for i in 0..n {
        t += &format!(
            "[[frontend]]\nname = \"f{i}\"\naddress = \"10.{}.{}.{}\"\nport = 80\nprotocol = \"tcp\"\n\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        );
    }
    t += "[[pool]]\nname = \"p\"\nnext_hop_mac = \"02:00:00:00:04:fe\"\n\n";
    for i in 0..n {
        t += &format!("[[rule]]\nfrontend = \"f{i}\"\npool = \"p\"\n\n");
    }
    t
}

#[test]
fn more_frontends_than_service_ids_are_refused() {
    // Service ids are u16, and u16::MAX is kept free.
    assert_eq!(MAX_FRONTENDS, 65535);
    let text = frontends(MAX_FRONTENDS + 1);
    let e = match Config::parse(&text, "many.toml") {
        Ok(c) => panic!("{} frontends accepted", c.frontends.len()),
        Err(e) => e,
    };
    assert_eq!(e.field.as_deref(), Some("frontend[65535]"));
    assert_eq!(e.problem, Problem::TooManyFrontends(65536));
    // The line of the first frontend past the limit.
    let line = 1 + text[..text.find("name = \"f65535\"").unwrap()]
        .matches('\n')
        .count()
        - 1;
    assert_eq!(e.line, Some(line));
    assert_eq!(
        e.to_string(),
        format!("many.toml:{line}: frontend[65535]: 65536 frontends, more than the maximum 65535: expected at most 65535 [[frontend]] tables")
    );
}

#[test]
fn frontends_up_to_a_few_hundred_still_parse() {
    let c = Config::parse(&frontends(300), "some.toml").unwrap();
    assert_eq!(c.frontends.len(), 300);
}
