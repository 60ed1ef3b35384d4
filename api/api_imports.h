/* SPDX-License-Identifier: MIT */
/* Internal: the list routes' registration (api_lists.c) used by api_imports.c. */
#ifndef API_API_IMPORTS_H
#define API_API_IMPORTS_H

#include "api/api.h"

int api__lists_routes_add(struct api *a);

#endif
