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
