/* SPDX-License-Identifier: MIT */
/* err: names and descriptions for the codes in err.h. */
#include "core/err.h"

#include <string.h>

const char *err_name(int code)
{
    switch (code) {
    case 0:
        return "OK";
#define ERR_NAME_(name, val, str) \
    case val:                     \
        return "ERR_" #name;
        ERR_MAP(ERR_NAME_)
#undef ERR_NAME_
    default:
        break;
    }
    if (code < 0 && code > -1000) {
        const char *n = strerrorname_np(-code);
        if (n != NULL) {
            return n;
        }
    }
    return "UNKNOWN";
}

const char *err_str(int code)
{
    switch (code) {
    case 0:
        return "success";
#define ERR_STR_(name, val, str) \
    case val:                    \
        return str;
        ERR_MAP(ERR_STR_)
#undef ERR_STR_
    default:
        break;
    }
    if (code < 0 && code > -1000) {
        const char *d = strerrordesc_np(-code);
        if (d != NULL) {
            return d;
        }
    }
    return "unknown error";
}
