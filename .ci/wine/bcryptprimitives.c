/*
 * bcryptprimitives.dll stand-in for Wine 8.
 *
 * Go 1.22 and later import ProcessPrng from bcryptprimitives.dll at start-up.
 * Wine 8 (Debian bookworm) does not ship that DLL, so every Go windows binary
 * aborts before main ("bcryptprimitives.dll not found"). This DLL exports the
 * one function the Go runtime needs and fills the buffer from RtlGenRandom
 * (advapi32!SystemFunction036), which Wine does implement.
 *
 * .ci/wine-setup.sh builds it with MinGW and installs it into the prefix's
 * system32; the Go runtime looks for it there only. Test use only: it is
 * never shipped.
 */
#include <windows.h>

/* RtlGenRandom is exported from advapi32 under the name SystemFunction036. */
BOOLEAN NTAPI SystemFunction036(PVOID buffer, ULONG length);

/* ProcessPrng fills buf with n random bytes and always succeeds on Windows;
 * here it reports failure if RtlGenRandom ever does. RtlGenRandom takes a
 * ULONG length, so large requests are served in chunks. */
BOOL WINAPI ProcessPrng(PBYTE buf, SIZE_T n)
{
	const SIZE_T chunk = 1u << 28;

	while (n > 0) {
		ULONG k = (ULONG)(n > chunk ? chunk : n);
		if (!SystemFunction036(buf, k))
			return FALSE;
		buf += k;
		n -= k;
	}
	return TRUE;
}
