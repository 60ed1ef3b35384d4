/* SPDX-License-Identifier: MIT */
/* dialerctl's commands other than those in ctl/main.c. */
#ifndef CTL_CTL_H
#define CTL_CTL_H

/* dialerctl dnc load ... (ctl/dnc_load.c): 0, 1 (the file was refused), 2 (cannot run), -1
 * (usage). */
int ctl_dnc_load(int argc, char **argv);

#endif
