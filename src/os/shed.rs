//! Linux: give back the pages of respawn's own program that only startup needed
//! (issue 24, memory).
//!
//! A supervisor's startup (command-line parsing, the spec's TOML, the state's JSON)
//! runs most of the program's code once; those pages stay in its resident set, and
//! since no other program maps respawn's file they are all charged to it (PSS), about
//! 1.5 MiB of a 2.5 MiB binary. After the child has started they are dropped from the
//! process (`madvise(MADV_DONTNEED)`) but stay in the page cache: what runs again (the
//! restart path, `status`'s socket) comes back with a minor fault, no disk read.
//!
//! Only the program's segments that are never written are touched (the loadable
//! segments without write permission: code, read-only data), shrunk to whole pages
//! inside each, so relocated data (RELRO) and everything else keep their contents.
//! Freed heap goes back too (`malloc_trim`).

use nix::libc;

/// Drop the program's read-only pages and the heap's free pages from this process.
/// Harmless to call at any time, from any thread; it changes no memory's contents.
pub fn shed_startup_pages() {
    // SAFETY: dl_iterate_phdr calls `each` with valid pointers for the duration of the
    // call; `each` only reads them and makes madvise calls on ranges of the main
    // program's read-only segments (see `each`).
    unsafe {
        libc::dl_iterate_phdr(Some(each), std::ptr::null_mut());
    }
    // SAFETY: glibc's malloc_trim takes no pointer and only releases free memory.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// For the first object (the main program): MADV_DONTNEED on every whole page inside
/// a PT_LOAD segment without PF_W. Returns 1 to stop after it.
unsafe extern "C" fn each(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    _data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY (whole body): `info` and its program headers are valid during the call.
    let info = unsafe { &*info };
    let page = 4096usize.max(unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize);
    let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
    for ph in phdrs {
        if ph.p_type != libc::PT_LOAD || ph.p_flags & libc::PF_W != 0 {
            continue;
        }
        let start = info.dlpi_addr as usize + ph.p_vaddr as usize;
        let end = start + ph.p_memsz as usize;
        let (start, end) = (start.div_ceil(page) * page, end / page * page);
        if end > start {
            // Pages of a private file mapping that were never written: dropping them
            // loses nothing; the next access maps the page cache's copy again.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        }
    }
    1
}
