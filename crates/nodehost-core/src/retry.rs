//! Retry decisions: a pure function of the failure, the attempt and the policy.
