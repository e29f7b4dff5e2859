//! Payload and issue-body building, and the webhook's retry rules against a
//! local fake (issue 14).

use std::time::Duration;

use serde_json::json;

use super::incident::{Incident, RunLinks};
use super::webhook::{WebhookError, payload, post};
use super::{Notice, failures};
use crate::config::{ApiToken, NotifyEvent, Redactor, WebhookConfig};
use crate::exit::ExitStatus;
use crate::report::{Check, Phase, PhaseName, Report};

fn notice(event: NotifyEvent) -> Notice {
    Notice {
        event,
        environment: "prod".to_owned(),
        from: Some("v2".to_owned()),
        to: Some("v1".to_owned()),
        reason: Some("`smoke` failed".to_owned()),
        database: Some("kept (policy `keep`)".to_owned()),
        run_url: Some("https://github.com/acme/shop/actions/runs/42".to_owned()),
    }
}

/// A `run` that deployed v2, failed smoke and rolled back to v1.
fn rolled_back_run() -> Report {
    let mut report = Report::new("run", Some("prod"), false);
    report.push(Phase::new(
        PhaseName::Deploy,
        vec![Check::pass("deploy v2")],
        Duration::from_secs(30),
    ));
    report.output("release", "v2");
    report.push(Phase::new(
        PhaseName::Smoke,
        vec![
            Check::fail("health")
                .detail("GET /health")
                .expected_actual("status 200", "status 503"),
        ],
        Duration::from_secs(5),
    ));
    report.push(Phase::new(
        PhaseName::Rollback,
        vec![
            Check::pass("reason").detail("`smoke` failed"),
            Check::pass("promote v1").artifact("release", "v1"),
            Check::pass("database").detail("kept (policy `keep`)"),
        ],
        Duration::from_secs(10),
    ));
    report.push(Phase::new(
        PhaseName::Verify,
        vec![Check::pass("health")],
        Duration::from_secs(2),
    ));
    report.finish(ExitStatus::RolledBack, Duration::ZERO);
    report
}

#[test]
fn rollback_payload_names_environment_releases_reason_database_and_run() {
    assert_eq!(
        payload(&notice(NotifyEvent::RollbackSucceeded)),
        json!({
            "text": "shipgate: Rolled back prod: `v2` → `v1` (`smoke` failed) https://github.com/acme/shop/actions/runs/42",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Rolled back prod: `v2` → `v1`*"}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Environment*\nprod"},
                    {"type": "mrkdwn", "text": "*Release*\n`v2` → `v1`"},
                    {"type": "mrkdwn", "text": "*Reason*\n`smoke` failed"},
                    {"type": "mrkdwn", "text": "*Database*\nkept (policy `keep`)"},
                ]},
                {"type": "context", "elements": [
                    {"type": "mrkdwn", "text": "<https://github.com/acme/shop/actions/runs/42|GitHub Actions run>"},
                ]},
            ],
        })
    );
}

#[test]
fn started_and_deploy_payloads_say_what_is_known() {
    let started = Notice {
        to: None,
        database: None,
        run_url: None,
        ..notice(NotifyEvent::RollbackStarted)
    };
    assert_eq!(
        payload(&started)["text"],
        "shipgate: Rolling back prod from `v2` (`smoke` failed)"
    );
    assert_eq!(
        payload(&started)["blocks"][1]["fields"][1]["text"],
        "*Release*\n`v2` → previous healthy release"
    );
    // `shipgate rollback --to v0` names the release asked for.
    let asked = Notice {
        to: Some("v0".to_owned()),
        ..started.clone()
    };
    assert_eq!(
        payload(&asked)["blocks"][1]["fields"][1]["text"],
        "*Release*\n`v2` → `v0`"
    );
    let deployed = Notice {
        to: None,
        reason: None,
        database: None,
        ..notice(NotifyEvent::DeploySucceeded)
    };
    assert_eq!(
        payload(&deployed)["text"],
        "shipgate: Deployed `v2` to prod https://github.com/acme/shop/actions/runs/42"
    );
    let stopped = Notice {
        from: None,
        ..deployed
    };
    let stopped = Notice {
        event: NotifyEvent::DeployFailed,
        reason: Some("gate `lint`: exit 1".to_owned()),
        ..stopped
    };
    assert_eq!(
        payload(&stopped)["text"],
        "shipgate: Deploy to prod failed (gate `lint`: exit 1) https://github.com/acme/shop/actions/runs/42"
    );
    assert_eq!(
        payload(&stopped)["blocks"][1]["fields"],
        json!([
            {"type": "mrkdwn", "text": "*Environment*\nprod"},
            {"type": "mrkdwn", "text": "*Reason*\ngate `lint`: exit 1"},
        ])
    );
    assert_eq!(
        payload(&notice(NotifyEvent::RollbackFailed))["blocks"][0]["text"]["text"],
        "*Rollback of prod from `v2` failed: it needs a person now*"
    );
}

// Masking happens on the strings, before JSON encoding: a secret holding a
// quote or a newline never appears in its escaped form either.
#[test]
fn secrets_are_masked_before_the_payload_is_encoded() {
    let redactor = Redactor::default();
    let secret = "hunter\"2\nx";
    redactor.register(secret);
    let leaky = Notice {
        reason: Some(format!("connect to postgres://app:{secret}@db failed")),
        ..notice(NotifyEvent::RollbackFailed)
    }
    .redacted(&redactor);
    let encoded = payload(&leaky).to_string();
    let escaped = serde_json::to_string(secret).unwrap();
    assert!(!encoded.contains(escaped.trim_matches('"')), "{encoded}");
    assert!(!encoded.contains("hunter"), "{encoded}");
    assert!(encoded.contains("postgres://app:***@db"), "{encoded}");
}

#[test]
fn issue_body_has_the_timeline_the_failing_checks_and_the_template_headings() {
    let report = rolled_back_run();
    let now: jiff::Timestamp = "2026-12-06T21:00:47Z".parse().unwrap();
    let incident = Incident::from_report(
        &report,
        &notice(NotifyEvent::RollbackSucceeded),
        now,
        RunLinks {
            marker: Some("42.1".to_owned()),
            deployments: Some("https://github.com/acme/shop/deployments/prod".to_owned()),
        },
        &Redactor::default(),
    );
    assert_eq!(incident.title, "Rollback: prod v2 → v1");
    let body = &incident.body;
    assert!(body.starts_with("<!-- shipgate-run: 42.1 -->\n"), "{body}");
    // Walking back from 21:00:47: verify 2 s, rollback 10 s, smoke 5 s, deploy
    // 30 s; a failing check is dated at the end of its phase.
    for line in [
        "| 2026-12-06 21:00:00 UTC | deploy of `v2` to `prod` started |",
        "| 2026-12-06 21:00:35 UTC | first failing check: smoke `health`: expected status 200, got status 503 |",
        "| 2026-12-06 21:00:35 UTC | decision: roll back automatically (`smoke` failed) |",
        "| 2026-12-06 21:00:45 UTC | rollback done: `v1` serves traffic again |",
        "| 2026-12-06 21:00:47 UTC | re-check passed against `v1` |",
        "- **smoke** `health`: expected `status 200`, got `status 503` — GET /health",
        "kept (policy `keep`)",
        "- Run: https://github.com/acme/shop/actions/runs/42",
        "- Deployments of `prod` (what is live, and each release's status): https://github.com/acme/shop/deployments/prod",
        "- 21:00 - Issue detected",
        "- HH:MM - Root cause identified",
        "**Date:** 2026-12-06",
        "**Duration:** 00:00",
        "- Data loss: No (the database was kept)",
    ] {
        assert!(body.contains(line), "body lacks {line:?}:\n{body}");
    }
    // The runbook's template, in its order.
    let headings = [
        "### Timeline (UTC)",
        "### Failing checks",
        "### Database",
        "### Links",
        "## Incident response",
        "## Incident Postmortem",
        "**Severity:**",
        "### Timeline\n",
        "### Root Cause",
        "### Impact",
        "### Resolution",
        "### Action Items",
        "### Prevention",
    ];
    let mut at = 0;
    for heading in headings {
        let found = body[at..]
            .find(heading)
            .unwrap_or_else(|| panic!("{heading:?} missing or out of order:\n{body}"));
        at += found + heading.len();
    }
}

#[test]
fn issue_body_masks_what_the_report_holds() {
    let redactor = Redactor::default();
    redactor.register("s3cr3t-token");
    let mut report = rolled_back_run();
    report.phases[1].checks[0].detail = Some("GET /health?token=s3cr3t-token".to_owned());
    let incident = Incident::from_report(
        &report,
        &notice(NotifyEvent::RollbackSucceeded),
        jiff::Timestamp::UNIX_EPOCH,
        RunLinks::default(),
        &redactor,
    );
    assert!(!incident.body.contains("s3cr3t"), "{}", incident.body);
    assert!(incident.body.contains("token=***"), "{}", incident.body);
    assert!(
        !incident.body.contains("shipgate-run"),
        "no marker outside Actions"
    );
}

#[test]
fn failures_stop_at_the_rollback() {
    let mut report = rolled_back_run();
    report.phases[3] = Phase::new(
        PhaseName::Verify,
        vec![Check::fail("health")],
        Duration::ZERO,
    );
    let found: Vec<String> = failures(&report)
        .iter()
        .map(|failure| failure.check.name.clone())
        .collect();
    assert_eq!(found, ["health"]);
    assert_eq!(failures(&report)[0].phase, PhaseName::Smoke);
}

fn webhook(url: String, timeout: Duration) -> WebhookConfig {
    WebhookConfig {
        url: ApiToken {
            variable: "SLACK_WEBHOOK_URL".to_owned(),
            value: url,
        },
        events: NotifyEvent::ALL.to_vec(),
        timeout,
    }
}

#[tokio::test]
async fn webhook_retries_only_a_429() {
    use wiremock::matchers::{body_json, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    let body = json!({"text": "hi", "blocks": []});
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(header("content-type", "application/json"))
        .and(body_json(&body))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let config = webhook(format!("{}/hook", server.uri()), Duration::from_secs(5));
    post(&config, &body).await.unwrap();

    let failing = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .expect(1)
        .mount(&failing)
        .await;
    let config = webhook(format!("{}/hook", failing.uri()), Duration::from_secs(5));
    let error = post(&config, &body).await.unwrap_err();
    assert!(
        matches!(&error, WebhookError::Status { status: 500, body } if body == "boom"),
        "{error}"
    );
}

#[tokio::test]
async fn webhook_gives_up_at_its_deadline_without_naming_the_url() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let url = format!("{}/services/T000/B000/SECRETPART", server.uri());
    let config = webhook(url, Duration::from_millis(200));
    let error = post(&config, &json!({"text": "hi"})).await.unwrap_err();
    assert!(matches!(error, WebhookError::Timeout { .. }), "{error}");
    assert_eq!(error.to_string(), "no answer within 200ms");
}
