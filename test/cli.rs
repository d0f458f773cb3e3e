//! The command line: check-config, --help, --version, and start-up failures.

use std::process::Command;

use crate::util::{bin, TestEnv};

fn check_config(env: &TestEnv, text: &str) -> (i32, String, String) {
    let path = env.path().join("check.yaml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(bin())
        .arg("check-config")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_prints_the_effective_config() {
    let env = TestEnv::new();
    let (code, stdout, stderr) = check_config(
        &env,
        "coordinator:\n  root: root\nweb_server:\n  port: 9000\n",
    );
    assert_eq!(code, 0, "{stderr}");
    for expected in [
        "port: 9000",
        "host: 127.0.0.1",
        "max_connections: 256",
        "header_timeout_seconds: 10",
        "keep_alive_seconds: 5",
        "write_timeout_seconds: 30",
        "max_response_bytes: 2097152",
        "background_refresh_interval_seconds: 30",
        "price_refresh_interval_seconds: 300",
        "metrics_refresh_interval_seconds: 60",
        "coordinator_pid_check_interval_seconds: 60",
        "cache_staleness_threshold_seconds: 300",
        "api_timeout_seconds: 10",
        "process_match: master_coordinator.py",
        "goodwe_energy.db",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
}

#[test]
fn check_config_errors_name_the_key_and_exit_2() {
    let env = TestEnv::new();
    let cases = [
        ("web_server:\n  prot: 8080\n", "web_server.prot"),
        ("colour: blue\n", "colour"),
        (
            "web_server:\n  background_refresh_interval_seconds: 0\n",
            "web_server.background_refresh_interval_seconds",
        ),
        (
            "web_server:\n  price_refresh_interval_seconds: -10\n",
            "web_server.price_refresh_interval_seconds",
        ),
        ("web_server:\n  port: 70000\n", "web_server.port"),
        ("web_server:\n  port: 0\n", "web_server.port"),
        ("web_server:\n  port: eighty\n", "web_server.port"),
        (
            "coordinator:\n  root: /nonexistent/coordinator\n",
            "coordinator.root",
        ),
    ];
    for (text, key) in cases {
        let (code, stdout, stderr) = check_config(&env, text);
        assert_eq!(
            code, 2,
            "{text:?}: expected exit 2, stdout {stdout}, stderr {stderr}"
        );
        let line = stderr.trim_end();
        assert!(
            !line.contains('\n'),
            "{text:?}: message is not one line: {line}"
        );
        assert!(
            line.contains(key),
            "{text:?}: message does not name {key}: {line}"
        );
        assert!(
            line.contains("check.yaml"),
            "{text:?}: message does not name the file: {line}"
        );
    }
}

#[test]
fn daemon_refuses_a_bad_config_with_exit_2() {
    let env = TestEnv::new();
    let path = env.path().join("bad.yaml");
    std::fs::write(&path, "web_server:\n  max_connections: 0\n").unwrap();
    let out = Command::new(bin())
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("web_server.max_connections"));
    let missing = Command::new(bin())
        .arg("--config")
        .arg(env.path().join("nope.yaml"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn help_and_version() {
    let help = Command::new(bin()).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("check-config") && text.contains("--config"),
        "{text}"
    );
    let version = Command::new(bin()).arg("--version").output().unwrap();
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("energy-monitor "));
    let bad = Command::new(bin()).arg("--no-such-flag").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn port_in_use_is_a_clear_failure() {
    let env = TestEnv::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = env.write_config(port, "", "");
    let out = Command::new(bin())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot listen on") && stderr.contains(&port.to_string()),
        "{stderr}"
    );
}

/// The coordinator's configuration in its own layout, with `tariff_type: g13s`.
const COORDINATOR_FILE: &str = include_str!("fixtures/master_coordinator_config.yaml");

#[test]
fn check_config_prints_the_coordinators_g13s_tariff() {
    let env = TestEnv::new();
    std::fs::write(env.path().join("master.yaml"), COORDINATOR_FILE).unwrap();
    let (code, stdout, stderr) =
        check_config(&env, "coordinator:\n  root: root\n  config: master.yaml\n");
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_yaml::Value = serde_yaml::from_str(
        stdout
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
            .as_str(),
    )
    .unwrap();
    let t = &doc["prices"]["tariff"];
    assert_eq!(t["tariff_type"], "g13s", "{stdout}");
    assert_eq!(t["sc_component_pln_kwh"].as_f64(), Some(0.0892));
    let g13s = &t["distribution_pricing"]["g13s"];
    assert_eq!(g13s["type"], "seasonal_time_based");
    let wd = &g13s["prices"]["working_days"];
    assert_eq!(wd["winter"]["day_peak"].as_f64(), Some(0.34), "{stdout}");
    assert_eq!(wd["summer"]["day_off_peak"].as_f64(), Some(0.1));
    assert_eq!(wd["winter"]["night"].as_f64(), Some(0.11));
    assert_eq!(
        g13s["prices"]["free_days"]["all_hours"].as_f64(),
        Some(0.11)
    );
    let zones = &g13s["seasons"]["winter"]["time_zones"];
    assert_eq!(zones["day_peak_evening"]["start"].as_u64(), Some(15));
    assert_eq!(zones["day_off_peak"]["end"].as_u64(), Some(15));
}

#[test]
fn check_config_fails_on_a_coordinator_tariff_it_cannot_understand() {
    let env = TestEnv::new();
    // The winter day_off_peak price removed from the coordinator's own file.
    let broken = COORDINATOR_FILE.replace("            day_off_peak: 0.200\n", "");
    assert_ne!(broken, COORDINATOR_FILE);
    std::fs::write(env.path().join("master.yaml"), &broken).unwrap();
    let (code, stdout, stderr) =
        check_config(&env, "coordinator:\n  root: root\n  config: master.yaml\n");
    assert_eq!(code, 2, "stdout {stdout}");
    let line = stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "{stderr}");
    assert!(line.contains("master.yaml"), "{line}");
    assert!(
        line.contains(
            "electricity_tariff.distribution_pricing.g13s.prices.working_days.winter.day_off_peak"
        ),
        "{line}"
    );
    assert!(
        line.contains("expected day_peak, day_off_peak and night"),
        "{line}"
    );

    // The daemon still starts, on market + SC prices, and says why in /status.
    let port = crate::util::free_port();
    let config = env.path().join("daemon.yaml");
    std::fs::write(
        &config,
        format!(
            "web_server:\n  host: 127.0.0.1\n  port: {port}\ncoordinator:\n  root: root\n  config: master.yaml\n  process_match: {}\ndata_dir: data\nprices:\n  api_url: http://127.0.0.1:{}/api/csdac-pln\n",
            env.process_match,
            crate::util::free_port()
        ),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let d = crate::util::Daemon::spawn(&["--config".as_ref(), config.as_os_str()], addr);
    let s = d.wait_json("/status", std::time::Duration::from_secs(10), |s| {
        s["problems"].to_string().contains("day_off_peak")
    });
    assert!(
        s["problems"].to_string().contains("market + SC"),
        "{}",
        s["problems"]
    );
}
