//! What can go wrong between a worker or a submitter and NATS.

/// A failure of the queue, a worker or a submission. The messages name the setting or the
/// value that was wrong; which flag set it is the caller's to say.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// A stream, bucket or subject name NATS would refuse.
    #[error("{setting} `{value}`: use letters, digits, `-` and `_`{}", if *.subject { " (and `.` between tokens)" } else { "" })]
    InvalidName {
        /// Which name (`stream`, `bucket`, `subject`, ...).
        setting: &'static str,
        /// The name given.
        value: String,
        /// Whether it is a subject (dots allowed between tokens).
        subject: bool,
    },
    /// A job id that cannot be a subject token.
    #[error("{0}")]
    InvalidJobId(String),
    /// A setting out of its range.
    #[error("{0}")]
    InvalidSetting(String),
    /// The NATS server could not be reached.
    #[error("cannot connect to NATS at {url}: {message}")]
    Connect {
        /// The server's URL.
        url: String,
        /// What the client said.
        message: String,
    },
    /// JetStream refused or failed an operation.
    #[error(
        "NATS at {url}: {what}: {message} (is JetStream enabled? start the server with `nats-server -js`)"
    )]
    JetStream {
        /// The server's URL.
        url: String,
        /// What was being done.
        what: String,
        /// What the server said.
        message: String,
    },
    /// Publishing or reading failed after the queue was set up.
    #[error("{what}: {message}")]
    Nats {
        /// What was being done.
        what: String,
        /// What the client said.
        message: String,
    },
    /// No result arrived within the time given; the job is still queued or running.
    #[error(
        "no result for job {job} within the time given; it is still queued or running (wait again with the same job id)"
    )]
    NoResultYet {
        /// The job id.
        job: String,
    },
    /// The results stream ended before the job's result.
    #[error("the results stream ended before job {job}'s result")]
    ResultsEnded {
        /// The job id.
        job: String,
    },
}
