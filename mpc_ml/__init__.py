"""Secure ML on secret-shared data, run by the trustees."""
