/*
 * bcryptprimitives.dll shim for the Wine test bed only.
 *
 * Rust std (1.78+) gets its random bytes from ProcessPrng in
 * bcryptprimitives.dll. Real Windows 10+ ships that DLL; Wine 8.0 does not,
 * so every Rust exe fails to load (exit 53). This DLL provides the one export
 * std needs, backed by RtlGenRandom (advapi32!SystemFunction036), which Wine
 * implements. Never ship this: it exists for scripts/windows-lane.sh.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll \
 *          bcryptprimitives.c bcryptprimitives.def -ladvapi32
 */
#include <windows.h>

/* RtlGenRandom is exported by advapi32 under this name; declare it ourselves
 * so we need no extra headers or import libraries beyond -ladvapi32. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG length: feed large requests in chunks. */
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    /* Like the real ProcessPrng, which is documented to always return TRUE. */
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst; (void)reason; (void)reserved;
    return TRUE;
}
