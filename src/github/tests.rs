//! Tests of the GitHub client against wiremock fakes.
