/* Internal interface between the portable core (hdlc.c) and the x86 SIMD paths (hdlc_x86.c). */
#ifndef PPPSTACK_HDLC_IMPL_H
#define PPPSTACK_HDLC_IMPL_H
#include <stddef.h>
#include <stdint.h>

uint16_t hdlc_crc16_tab(uint16_t c, const uint8_t *p, size_t n);
uint32_t hdlc_crc32_tab(uint32_t c, const uint8_t *p, size_t n);
size_t hdlc_escape_lut(uint8_t *out, const uint8_t *in, size_t n, uint32_t accm);
size_t hdlc_scan_fe_portable(const uint8_t *p, size_t n);
size_t hdlc_scan_fec_portable(const uint8_t *p, size_t n, uint32_t accm);

/* HDLC_SIMD_* bits this CPU supports (0 off x86). */
unsigned hdlc_x86_detect(void);
uint16_t hdlc_x86_crc16(uint16_t c, const uint8_t *p, size_t n);
uint32_t hdlc_x86_crc32(uint32_t c, const uint8_t *p, size_t n);
/* The same with 512-bit VPCLMULQDQ (HDLC_SIMD_VPCLMUL); n >= 64. */
uint16_t hdlc_x86_crc16_512(uint16_t c, const uint8_t *p, size_t n);
uint32_t hdlc_x86_crc32_512(uint32_t c, const uint8_t *p, size_t n);
/* Escape in[0..n) into out (at most 2n bytes); returns bytes written. */
size_t hdlc_x86_escape(uint8_t *out, const uint8_t *in, size_t n, uint32_t accm, unsigned features);
/* Unescape leading blocks of in[0..n) up to a flag, stopping early at an escape pair or where
 * the run would pass `room` bytes made.  Stores may reach 64 bytes past out + *made but never
 * past out + n + 64, which hdlc_decode_bound leaves free. */
void hdlc_x86_unescape(uint8_t *out, const uint8_t *in, size_t n, size_t room, uint32_t accm,
                       unsigned features, size_t *used, size_t *made, uint64_t *dropped);
#endif
