//! What tuning's verbs work on, decided from the request before any kernel call
//! ([`crate::plan`]): [`AddPlan`] for ADD and [`SavedFile`] for DEL and GC are the values
//! the verbs take their names from (the configured sysctl files, the container interface,
//! the saved-values file in `dataDir`); [`plan`] lists what each verb changes.

use std::path::{Path, PathBuf};

use cni::{CmdArgs, CniResult, Command, Error};

use super::config::{TuningConf, ALLOWLIST};
use super::{data_dir_for_del, state};
use crate::netns;
use crate::plan::{LinkChange, LinkName, Netns, Plan, SysctlKey, Touch};

/// ADD's decisions.
pub struct AddPlan {
    pub conf: TuningConf,
    pub prev: CniResult,
    /// `CNI_NETNS`.
    pub netns: String,
    /// The saved-values file's name in `conf.data_dir`, when the link changes.
    pub saved: Option<String>,
}

impl AddPlan {
    pub fn new(args: &CmdArgs) -> Result<AddPlan, Error> {
        let conf = TuningConf::from_cmd(args, Path::new(ALLOWLIST))?;
        let prev = args.prev_result()?.ok_or_else(|| {
            Error::invalid_config(
                "tuning: ADD requires a prevResult: tuning is a chained plugin and adjusts the \
                 interface an earlier plugin of the list made",
            )
        })?;
        let netns = netns::required(args)?.to_string();
        let saved = if conf.changes_link() {
            Some(state::file_name(&args.container_id, &args.ifname).map_err(Error::invalid_env)?)
        } else {
            None
        };
        Ok(AddPlan {
            conf,
            prev,
            netns,
            saved,
        })
    }

    fn touches(&self, args: &CmdArgs, plan: &mut Plan) {
        plan.enter(&self.netns);
        for s in &self.conf.sysctls {
            plan.sysctl(
                Netns::Container,
                SysctlKey::Path(s.path.components().to_vec()),
            );
        }
        if let Some(name) = &self.saved {
            plan.push(Touch::File {
                dir: self.conf.data_dir.clone(),
                name: name.clone(),
            });
            plan.link(
                Netns::Container,
                &LinkName::named(args.ifname.as_str()),
                LinkChange::Change,
            );
        }
    }
}

/// Where DEL and GC find saved values: `dataDir` read so that it cannot fail, and the
/// attachment's file name (`None` when none can be named after the request).
pub struct SavedFile {
    pub dir: PathBuf,
    pub name: Option<String>,
}

impl SavedFile {
    pub fn new(args: &CmdArgs) -> SavedFile {
        SavedFile {
            dir: data_dir_for_del(&args.stdin),
            name: state::file_name(&args.container_id, &args.ifname).ok(),
        }
    }
}

/// The plan of `args`'s verb ([`crate::plan`]).
pub fn plan(args: &CmdArgs) -> Result<Plan, Error> {
    let mut plan = Plan::new("tuning", args.command);
    match args.command {
        Command::Add => AddPlan::new(args)?.touches(args, &mut plan),
        Command::Del => {
            let saved = SavedFile::new(args);
            if let Some(name) = saved.name {
                plan.push(Touch::File {
                    dir: saved.dir,
                    name,
                });
                if let Some(path) = &args.netns {
                    plan.enter(path);
                    plan.link(
                        Netns::Container,
                        &LinkName::named(args.ifname.as_str()),
                        LinkChange::Change,
                    );
                }
            }
        }
        // CHECK reads the sysctls and the link; STATUS looks at the data directory.
        Command::Check => {
            TuningConf::from_cmd(args, Path::new(ALLOWLIST))?;
            plan.enter(netns::required(args)?);
        }
        Command::Status => {
            TuningConf::parse(&args.stdin, &args.args, None, Path::new(ALLOWLIST))?;
        }
        Command::Gc => {
            if args.conf.gc_valid_attachments().is_some() {
                plan.push(Touch::DirEntries(SavedFile::new(args).dir));
            }
        }
        Command::Version => {}
    }
    Ok(plan)
}
