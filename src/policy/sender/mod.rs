//! Sender constraints: whether the request comes from the party its token is bound to (a DPoP
//! proof of the token's key, or the client certificate it names), and what that requires.
//!
//! [`binding`] checks a verified token's binding in the decision, [`replay`] is the workers'
//! shared memory of used proofs, [`dpop_nonce`] the optional server nonces, [`challenge`]
//! completes 401 challenges (`DPoP`, `resource_metadata`), and [`resource_metadata`] is the
//! RFC 9728 document.

pub mod binding;
pub mod challenge;
pub mod dpop_nonce;
pub mod replay;
pub mod resource_metadata;

pub use binding::{
    check, request_url, uses_dpop_scheme, Bound, CertificateSource, DpopSettings, MtlsSettings,
    SenderSettings, DPOP_HEADER, XFCC_HEADER,
};
