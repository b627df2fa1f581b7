//! Alert streams (`vigil-alr`): the rules live in `vigil_core::alert`; here are the commands,
//! the persistence, the registry of where the streams are and the retention sweep.
pub mod commands;
pub mod floor;
pub mod rdb;
pub mod registry;
pub mod sweep;
