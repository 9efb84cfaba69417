//! Lacework API v2 client. Not written yet.
