#!/bin/sh
# Stands in for the project's test suite.
echo "42 tests passed"
