//! Differential tests against Debian's Dovecot (being written).
