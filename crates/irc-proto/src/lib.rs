//! IRC as text, without sockets: the one checked [`line::Line`] the bridge's
//! writer takes, parsing what servers send, CAP and SASL negotiation, mIRC
//! formatting to and from Matrix HTML, long text cut into lines, and the
//! checks on what a Matrix user may put into a parameter.
//!
//! Apart from the bridge so that the fuzz targets, which feed it untrusted
//! text, build without the appservice under fuzzing instrumentation. The
//! bridge imports these modules at its root, so its code names them as
//! before.

pub mod cap;
pub mod format;
pub mod line;
pub mod lines;
pub mod params;
