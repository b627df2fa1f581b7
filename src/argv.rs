//! A command as an argument vector: how a command's decided effect reaches replicas and the
//! AOF (`replicate`), and how an AOF rewrite rebuilds a value (`ffi::types`), built once per
//! type so the two never disagree.

use crate::ffi;
use crate::ffi::types::Emit;
use redis_module::Context;
use std::ffi::CStr;
use std::fmt::Display;

#[derive(Debug, Clone)]
pub struct Argv {
    command: &'static CStr,
    /// The arguments after the key.
    args: Vec<Vec<u8>>,
}

impl Argv {
    pub fn new(command: &'static CStr) -> Argv {
        Argv {
            command,
            args: Vec::new(),
        }
    }

    pub fn arg(&mut self, a: impl AsRef<[u8]>) -> &mut Argv {
        self.args.push(a.as_ref().to_vec());
        self
    }

    /// A number (or an amount) in its decimal form.
    pub fn num(&mut self, v: impl Display) -> &mut Argv {
        self.args.push(v.to_string().into_bytes());
        self
    }

    /// `NAME value` for an option.
    pub fn opt(&mut self, name: &str, v: impl Display) -> &mut Argv {
        self.arg(name).num(v)
    }

    pub fn command(&self) -> &'static CStr {
        self.command
    }

    pub fn args(&self) -> impl Iterator<Item = &[u8]> {
        self.args.iter().map(Vec::as_slice)
    }

    /// Hands the command to an AOF rewrite.
    pub fn emit(&self, emit: &mut Emit) {
        let args: Vec<&[u8]> = self.args().collect();
        emit(self.command, &args);
    }

    /// Replicates `command key args...` to replicas and the AOF.
    pub fn replicate(&self, ctx: &Context, key: &[u8]) {
        let mut all: Vec<&[u8]> = Vec::with_capacity(self.args.len() + 1);
        all.push(key);
        all.extend(self.args());
        ffi::replicate(ctx, self.command, &all);
    }
}
