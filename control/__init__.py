"""Operator-side operations on running workflows, shared by the starter CLI, the demo and the tests."""
