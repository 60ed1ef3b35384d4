/* SPDX-License-Identifier: MIT */
/*
 * dnc_zip: the registry's downloads come zipped (DIALER-ANCHORS.md 4.3).
 * A small, bounded reader of a zip archive held in memory (an upload body
 * or a mapped file), with zlib for deflate:
 *
 *   - The central directory is read from the end record; every member that
 *     is a file (not a directory, not "__MACOSX/" metadata) is parsed in
 *     directory order as its own DNC file (dnc__text: format as asked, or
 *     detected per member), its entries going to the same target. Line
 *     numbers in errors are the member's; the message names the member.
 *   - Methods: stored (0) and deflate (8). Refused, naming the member:
 *     encryption (flag bit 0), any other method, zip64 (32-bit sizes only;
 *     a registry file is under 4 GiB), multi-disk archives, a zip inside the
 *     zip, a member whose declared size is above the absolute bound or above
 *     DNC__ZIP_MAX_RATIO times its compressed size (a zip bomb), a member
 *     that inflates to more (or less) than it declares, a CRC-32 mismatch,
 *     and any offset or length outside the archive (truncated).
 *   - Streaming: a member is inflated through a 64 KiB buffer straight into
 *     the parser; no member is ever held whole in memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "compliance/dnc_file_int.h"
#include "core/err.h"

#define OUT_CHUNK     65536
#define RATIO_FLOOR   (UINT64_C(1) << 20) /* below 1 MiB inflated, no ratio test */
#define EOCD_SIZE     22
#define CDH_SIZE      46
#define LFH_SIZE      30
#define MAX_NAME_SHOW 64

static uint64_t g_max_member = DNC__ZIP_MAX_MEMBER;
static uint32_t g_max_ratio = DNC__ZIP_MAX_RATIO;

void dnc__zip_limits(uint64_t max_member, uint32_t max_ratio)
{
    g_max_member = max_member != 0 ? max_member : DNC__ZIP_MAX_MEMBER;
    g_max_ratio = max_ratio != 0 ? max_ratio : DNC__ZIP_MAX_RATIO;
}

static uint16_t rd16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static int zfail(struct compliance_dnc_parse_error *err, const char *member, const char *msg)
{
    err->line = 0;
    if (member != NULL) {
        snprintf(err->message, sizeof(err->message), "zip member \"%s\": %.80s", member, msg);
    } else {
        snprintf(err->message, sizeof(err->message), "zip: %s", msg);
    }
    return ERR_PARSE;
}

/* A member's name fit for a message: printable ASCII, shortened. */
static void show_name(const unsigned char *p, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o < MAX_NAME_SHOW - 4; i++) {
        out[o++] = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' ? (char)p[i] : '?';
    }
    if (n > MAX_NAME_SHOW - 4) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

struct member {
    char name[MAX_NAME_SHOW];
    uint16_t flags, method;
    uint32_t crc, csize, usize;
    const unsigned char *data;
};

/* Prefixes the member's name to a parse error of its content. */
static int member_err(struct compliance_dnc_parse_error *err, const struct member *m, int rc)
{
    char msg[sizeof(err->message)];
    snprintf(msg, sizeof(msg), "%s", err->message);
    snprintf(err->message, sizeof(err->message), "zip member \"%s\": %.80s", m->name, msg);
    return rc;
}

static int feed(struct dnc__text *t, const struct member *m, const unsigned char *p, size_t n,
                bool first, struct compliance_dnc_parse_error *err)
{
    if (first && dnc__is_zip(p, n)) {
        return zfail(err, m->name, "a zip archive inside the archive is refused");
    }
    int rc = dnc__text_feed(t, (const char *)p, n, false);
    return rc != 0 ? member_err(err, m, rc) : 0;
}

static int read_member(const struct member *m, struct dnc__text *t, unsigned char *out,
                       struct compliance_dnc_parse_error *err)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    int rc = 0;
    if (m->method == 0) {
        if (m->csize != m->usize) {
            return zfail(err, m->name, "stored member whose sizes differ");
        }
        for (uint32_t off = 0; off < m->usize && rc == 0;) {
            uint32_t n = m->usize - off < OUT_CHUNK ? m->usize - off : OUT_CHUNK;
            crc = crc32(crc, m->data + off, n);
            rc = feed(t, m, m->data + off, n, off == 0, err);
            off += n;
        }
    } else {
        z_stream z;
        memset(&z, 0, sizeof(z));
        if (inflateInit2(&z, -MAX_WBITS) != Z_OK) {
            return ERR_NOMEM;
        }
        z.next_in = (Bytef *)(uintptr_t)m->data;
        z.avail_in = m->csize;
        uint64_t total = 0;
        int zr = Z_OK;
        while (rc == 0 && zr != Z_STREAM_END) {
            z.next_out = out;
            z.avail_out = OUT_CHUNK;
            zr = inflate(&z, Z_NO_FLUSH);
            size_t got = OUT_CHUNK - z.avail_out;
            if (zr != Z_OK && zr != Z_STREAM_END) {
                rc = zfail(err, m->name,
                           zr == Z_MEM_ERROR   ? "out of memory"
                           : zr == Z_BUF_ERROR ? "deflate data ends early (truncated archive)"
                                               : "corrupt deflate data");
                break;
            }
            if (total + got > m->usize) {
                rc = zfail(err, m->name, "inflates to more than its declared size");
                break;
            }
            if (got > 0) {
                crc = crc32(crc, out, (uInt)got);
                rc = feed(t, m, out, got, total == 0, err);
                total += got;
            } else if (zr == Z_OK && z.avail_in == 0) {
                rc = zfail(err, m->name, "deflate data ends early (truncated archive)");
            }
        }
        inflateEnd(&z);
        if (rc == 0 && total != m->usize) {
            rc = zfail(err, m->name, "inflates to less than its declared size");
        }
    }
    if (rc == 0 && crc != m->crc) {
        rc = zfail(err, m->name, "CRC-32 mismatch (corrupt archive)");
    }
    if (rc == 0) {
        rc = dnc__text_end(t);
        if (rc != 0) {
            member_err(err, m, rc);
        }
    }
    return rc;
}

int dnc__zip_parse(const unsigned char *data, size_t len, enum compliance_dnc_format fmt,
                   const struct dnc__target *tg, uint64_t *lines,
                   struct compliance_dnc_parse_error *err)
{
    /* the end of central directory record: the last one within 64 KiB + 22 of the end */
    const unsigned char *eocd = NULL;
    if (len >= EOCD_SIZE) {
        size_t lo = len > EOCD_SIZE + 65535 ? len - EOCD_SIZE - 65535 : 0;
        for (size_t i = len - EOCD_SIZE + 1; i-- > lo;) {
            if (rd32(data + i) == 0x06054b50 && i + EOCD_SIZE + rd16(data + i + 20) == len) {
                eocd = data + i;
                break;
            }
        }
    }
    if (eocd == NULL) {
        return zfail(err, NULL, "no end of central directory record (truncated archive?)");
    }
    uint16_t disk = rd16(eocd + 4), cd_disk = rd16(eocd + 6);
    uint16_t count = rd16(eocd + 10);
    uint32_t cd_size = rd32(eocd + 12), cd_off = rd32(eocd + 16);
    size_t eocd_at = (size_t)(eocd - data);
    if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu ||
        (eocd_at >= 20 && rd32(eocd - 20) == 0x07064b50)) {
        return zfail(err, NULL, "zip64 archives are not read");
    }
    if (disk != 0 || cd_disk != 0 || rd16(eocd + 8) != count) {
        return zfail(err, NULL, "multi-disk archives are not read");
    }
    if ((uint64_t)cd_off + cd_size > eocd_at) {
        return zfail(err, NULL, "central directory outside the archive (truncated archive?)");
    }
    unsigned char *out = malloc(OUT_CHUNK);
    struct dnc__text *t = malloc(sizeof(*t));
    if (out == NULL || t == NULL) {
        free(out);
        free(t);
        return ERR_NOMEM;
    }
    uint64_t total = 0, files = 0;
    int rc = 0;
    size_t pos = cd_off, cd_end = (size_t)cd_off + cd_size;
    for (uint16_t i = 0; i < count && rc == 0; i++) {
        struct member m;
        if (pos + CDH_SIZE > cd_end || rd32(data + pos) != 0x02014b50) {
            rc = zfail(err, NULL, "corrupt central directory");
            break;
        }
        const unsigned char *h = data + pos;
        uint16_t nlen = rd16(h + 28), xlen = rd16(h + 30), clen = rd16(h + 32);
        if (pos + CDH_SIZE + nlen + xlen + clen > cd_end) {
            rc = zfail(err, NULL, "corrupt central directory");
            break;
        }
        const unsigned char *name = h + CDH_SIZE;
        show_name(name, nlen, m.name);
        m.flags = rd16(h + 8);
        m.method = rd16(h + 10);
        m.crc = rd32(h + 16);
        m.csize = rd32(h + 20);
        m.usize = rd32(h + 24);
        uint32_t lfh = rd32(h + 42);
        pos += CDH_SIZE + (size_t)nlen + xlen + clen;
        if ((nlen > 0 && name[nlen - 1] == '/') ||
            (nlen >= 9 && memcmp(name, "__MACOSX/", 9) == 0)) {
            continue; /* a directory, or a Mac resource fork */
        }
        if (m.flags & 0x41) {
            rc = zfail(err, m.name, "encrypted members are refused");
        } else if (m.method != 0 && m.method != 8) {
            rc = zfail(err, m.name, "compression method not supported (stored and deflate only)");
        } else if (m.csize == 0xFFFFFFFFu || m.usize == 0xFFFFFFFFu || lfh == 0xFFFFFFFFu) {
            rc = zfail(err, m.name, "zip64 members are not read");
        } else if (m.usize > g_max_member) {
            rc = zfail(err, m.name, "inflated size above the bound for one member");
        } else if (m.usize > RATIO_FLOOR && (uint64_t)m.usize > (uint64_t)m.csize * g_max_ratio) {
            rc = zfail(err, m.name, "compression ratio above the bound (a zip bomb?)");
        } else if ((uint64_t)lfh + LFH_SIZE > cd_off || rd32(data + lfh) != 0x04034b50) {
            rc = zfail(err, m.name, "local header outside the archive (truncated archive?)");
        }
        if (rc != 0) {
            break;
        }
        size_t start = (size_t)lfh + LFH_SIZE + rd16(data + lfh + 26) + rd16(data + lfh + 28);
        if ((uint64_t)start + m.csize > cd_off) {
            rc = zfail(err, m.name, "data outside the archive (truncated archive?)");
            break;
        }
        m.data = data + start;
        dnc__text_init(t, fmt, tg, err);
        rc = read_member(&m, t, out, err);
        total += dnc__text_count(t);
        files++;
    }
    if (rc == 0 && files == 0) {
        rc = zfail(err, NULL, "the archive holds no file");
    }
    if (lines != NULL) {
        *lines = total;
    }
    free(out);
    free(t);
    return rc;
}
