//! Accounts: the users file, command-line users and anonymous access.
