//! HyperFleet's controller manager. Per SentinelConfig it runs a poll -> decide -> publish loop
//! ([`sentinel`]); per AdapterConfig, a broker consumer that evaluates CEL, creates Jobs and
//! other objects and reports status ([`adapter`]); both as supervised tasks ([`tasks`]) kept in
//! line with their configs by [`workloads`]. The configs come from the Kubernetes API
//! ([`controller`], under a Lease: [`leader`]; wired by [`run`]) or from files ([`local`]);
//! [`authoring`] runs one event through an adapter for people writing them.

pub mod adapter;
pub mod admin;
pub mod authoring;
pub mod cel;
pub mod cli;
pub mod controller;
pub mod dlq;
pub mod leader;
pub mod local;
pub mod metrics;
pub mod resolve;
pub mod run;
pub mod sentinel;
pub mod tasks;
pub mod workloads;
