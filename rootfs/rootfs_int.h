/* rootfs_int.h - helpers shared by the files of rootfs/ (not an interface of other folders). */
#ifndef TANK_ROOTFS_INT_H
#define TANK_ROOTFS_INT_H

#include "rootfs/rootfs.h"

/* Clear the ambient set and drop every capability outside caps from the bounding set. */
int caps_bound(uint64_t caps, struct diag *d);
/* effective = permitted = caps, and the inheritable set. */
int caps_set(uint64_t caps, uint64_t inheritable, struct diag *d);

#endif
