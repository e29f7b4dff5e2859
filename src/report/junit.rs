//! The JUnit XML renderer (`--junit PATH`) for test-report actions: one
//! `<testsuite>` per phase and one `<testcase>` per check.
//!
//! A failed check's `<failure message>` is its assertion detail (`expected …,
//! got …`) and its text the check's log; skipped checks are `<skipped>`; a
//! check that passed with a warning passes, with its detail in `system-out`.
//! An interrupted run gets one more suite, `shipgate`, whose `interrupted`
//! case is an error. Serialisation is `quick-junit`'s; the caller renders the
//! masked copy of the report ([`Report::redacted`]).

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::{Check, Report, Status};
use crate::exit::ExitStatus;

/// The report as JUnit XML.
pub fn render(report: &Report) -> Result<String, quick_junit::SerializeError> {
    let mut junit = quick_junit::Report::new(format!("shipgate {}", report.command));
    junit.set_time(report.duration);
    for phase in &report.phases {
        let mut suite = TestSuite::new(phase.name.as_str());
        suite.set_time(phase.duration);
        for check in &phase.checks {
            let mut case = TestCase::new(check.name.clone(), status(check));
            case.set_classname(format!("shipgate.{}", phase.name.as_str()));
            if let Some(duration) = check.duration {
                case.set_time(duration);
            }
            if let Some(detail) = &check.detail {
                case.set_system_out(detail.clone());
            }
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    if report.outcome == ExitStatus::Interrupted {
        // Its checks may all have passed: the interruption is the failure
        // (issue 10, item 3).
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(format!(
            "interrupted before `{}` finished (exit {})",
            report.command, report.exit_code
        ));
        let mut case = TestCase::new("interrupted", status);
        case.set_classname("shipgate");
        let mut suite = TestSuite::new("shipgate");
        suite.add_test_case(case);
        junit.add_test_suite(suite);
    }
    junit.to_string()
}

/// The failure message of a check: the assertion detail, else its detail.
pub fn failure_message(check: &Check) -> String {
    match (&check.expected, &check.actual) {
        (Some(expected), Some(actual)) => format!("expected {expected}, got {actual}"),
        _ => check.detail.clone().unwrap_or_else(|| "failed".to_owned()),
    }
}

fn status(check: &Check) -> TestCaseStatus {
    match check.status {
        Status::Pass | Status::Warn => TestCaseStatus::success(),
        Status::Skip => {
            let mut status = TestCaseStatus::skipped();
            if let Some(detail) = &check.detail {
                status.set_message(detail.clone());
            }
            status
        }
        Status::Fail => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(failure_message(check));
            if let Some(log) = &check.log {
                status.set_description(log.clone());
            }
            status
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::{Phase, PhaseName};

    #[test]
    fn one_testcase_per_check_with_the_assertion_as_failure_message() {
        let mut report = Report::new("smoke", Some("local"), false);
        report.push(Phase::new(
            PhaseName::Smoke,
            vec![
                Check::pass("health"),
                Check::fail("api")
                    .expected_actual("status 200", "status 503")
                    .log("body <html>"),
                Check::new("me", Status::Skip).detail("not sent"),
            ],
            Duration::from_millis(12),
        ));
        let xml = render(&report).unwrap();
        assert!(
            xml.contains(
                r#"<testsuite name="smoke" tests="3" skipped="1" errors="0" failures="1""#
            ),
            "{xml}"
        );
        assert!(xml.contains(r#"<failure message="expected status 200, got status 503">body &lt;html&gt;</failure>"#), "{xml}");
        assert!(xml.contains(r#"<skipped message="not sent"/>"#), "{xml}");
    }
}
