//! Lacework API v2 as data: the `CloudAccounts` records and their integration data
//! ([`CloudAccount`], [`AwsCfgData`], [`AwsCtSqsData`]), the scope of a call ([`Scope`]: one
//! sub-account or the organization), and the confidential values ([`SecretString`],
//! [`Credentials`], [`Token`]), redacted in `Debug`, logs and error messages. The
//! client that sends them is the `lwct-lacework` crate.

mod scope;
mod secret;
mod types;

pub use scope::{Scope, SubAccount};
pub use secret::{Credentials, REDACTED, SecretString, Token, TokenWire};
pub use types::{
    AwsCfgData, AwsCtSqsData, CloudAccount, CloudAccountSpec, CrossAccountCredentials,
    IntegrationData, IntegrationState, decode_error, json_path,
};
