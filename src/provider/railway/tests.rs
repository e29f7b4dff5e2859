//! Tests of the railway provider against a fake GraphQL API on 127.0.0.1.
