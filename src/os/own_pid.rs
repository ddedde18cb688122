//! A child's own pid in its environment (Linux), as systemd gives a service
//! `WATCHDOG_PID`: the pid is only known after the fork, and between fork and exec
//! only async-signal-safe calls are allowed (the supervisor has threads), so
//! `setenv` is out. Instead the whole exec is prepared in the parent — program,
//! argv, and the environment the child would get, with one fixed-size slot for the
//! pid — and the last `pre_exec` hook writes the pid's digits into the slot (plain
//! memory writes) and makes the same `execvp` call std would have made next.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::raw::c_char;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// The value that marks a variable for the child's own pid; see
/// [`super::ChildTree::spawn`].
pub const CHILD_PID: &str = "\u{1}respawn:child-pid\u{1}";

extern "C" {
    /// The process environment, which `execvp` reads (as std's own spawn does).
    static mut environ: *const *const c_char;
}

/// Everything the child's exec needs, built in the parent. The pointer arrays point
/// into the `CString`s and the slot, whose heap buffers never move.
struct Exec {
    program: CString,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    _env: Vec<CString>,
    env_ptrs: Vec<*const c_char>,
    /// `NAME=` followed by room for a u32's ten digits and the NUL.
    slot: Box<[u8]>,
    name_len: usize,
}

// SAFETY: the raw pointers only point into buffers this struct owns; it is only
// used in the forked child, which has a single thread.
unsafe impl Send for Exec {}
unsafe impl Sync for Exec {}

/// If a variable of `cmd` is set to [`CHILD_PID`], arrange for the child to get its
/// own pid there. Call it last before `spawn`: its hook must run after every other
/// one (it execs), and it snapshots the command's environment now.
pub fn arrange(cmd: &mut tokio::process::Command) -> io::Result<()> {
    let std_cmd = cmd.as_std();
    let marked: Vec<OsString> = std_cmd
        .get_envs()
        .filter(|(_, v)| *v == Some(OsStr::new(CHILD_PID)))
        .map(|(k, _)| k.to_os_string())
        .collect();
    let [name] = &marked[..] else {
        if marked.is_empty() {
            return Ok(());
        }
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "only one variable can hold the child's pid",
        ));
    };
    // The environment std would give the child: ours, changed as the command says.
    // (Command::env_clear is not visible here; respawn never clears the child's
    // environment, and tests/supervisor/health.rs checks the child's variables.)
    let mut env: std::collections::BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    for (k, v) in std_cmd.get_envs() {
        match v {
            Some(v) => env.insert(k.to_os_string(), v.to_os_string()),
            None => env.remove(k),
        };
    }
    env.remove(name);
    let cstring = |bytes: Vec<u8>| {
        CString::new(bytes).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "nul byte found in the child's program, arguments or environment",
            )
        })
    };
    let program = cstring(std_cmd.get_program().as_bytes().to_vec())?;
    let mut argv = vec![program.clone()];
    for a in std_cmd.get_args() {
        argv.push(cstring(a.as_bytes().to_vec())?);
    }
    let env: Vec<CString> = env
        .into_iter()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            cstring(kv)
        })
        .collect::<io::Result<_>>()?;
    let mut slot = name.as_bytes().to_vec();
    slot.push(b'=');
    let name_len = slot.len();
    slot.resize(name_len + 11, 0);
    let mut slot = slot.into_boxed_slice();

    let mut argv_ptrs: Vec<*const c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(slot.as_mut_ptr() as *const c_char);
    env_ptrs.push(std::ptr::null());
    let mut exec = Exec {
        program,
        _argv: argv,
        argv_ptrs,
        _env: env,
        env_ptrs,
        slot,
        name_len,
    };
    // SAFETY: the hook runs in the forked child and makes only async-signal-safe
    // calls (getpid, execvp) and writes to memory the closure owns; no allocation.
    unsafe {
        cmd.pre_exec(move || exec.run());
    }
    Ok(())
}

impl Exec {
    /// In the child: fill the slot, then exec as std would. Returns only on failure.
    fn run(&mut self) -> io::Result<()> {
        let pid = nix::unistd::getpid().as_raw() as u32;
        write_decimal(pid, &mut self.slot[self.name_len..]);
        // SAFETY: every pointer is valid and NUL-terminated (built in `arrange`), and
        // the arrays end with a null pointer; the child has one thread.
        unsafe {
            let saved = environ;
            environ = self.env_ptrs.as_ptr();
            nix::libc::execvp(self.program.as_ptr(), self.argv_ptrs.as_ptr());
            let err = io::Error::last_os_error();
            environ = saved;
            Err(err)
        }
    }
}

/// `n` in decimal, NUL-terminated, into `out` (11 bytes fit any u32). No allocation.
fn write_decimal(mut n: u32, out: &mut [u8]) {
    let mut digits = [0u8; 10];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        out[i] = digits[len - 1 - i];
    }
    out[len] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_fit_their_slot() {
        for (n, want) in [
            (0, "0"),
            (7, "7"),
            (4_194_304, "4194304"),
            (u32::MAX, "4294967295"),
        ] {
            let mut out = [0xffu8; 11];
            write_decimal(n, &mut out);
            let end = out.iter().position(|b| *b == 0).unwrap();
            assert_eq!(std::str::from_utf8(&out[..end]).unwrap(), want);
        }
    }
}
