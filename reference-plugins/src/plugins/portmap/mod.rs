//! The `portmap` plugin: host ports forwarded to a container (a chained plugin, after bridge
//! or ptp). Its configuration and the checks made before anything changes: [`config`].

pub mod config;
