/* x86 SIMD paths for the framing core, chosen at run time (placeholder: portable only). */
#include "hdlc_impl.h"

unsigned hdlc_x86_detect(void) { return 0; }
uint16_t hdlc_x86_crc16(uint16_t c, const uint8_t *p, size_t n) { return hdlc_crc16_tab(c, p, n); }
uint32_t hdlc_x86_crc32(uint32_t c, const uint8_t *p, size_t n) { return hdlc_crc32_tab(c, p, n); }
size_t hdlc_x86_escape(uint8_t *out, const uint8_t *in, size_t n, uint32_t accm, unsigned features)
{
    (void)features;
    return hdlc_escape_lut(out, in, n, accm);
}
void hdlc_x86_unescape(uint8_t *out, const uint8_t *in, size_t n, size_t room, uint32_t accm,
                       unsigned features, size_t *used, size_t *made, uint64_t *dropped)
{
    (void)out, (void)in, (void)n, (void)room, (void)accm, (void)features, (void)dropped;
    *used = *made = 0;
}
