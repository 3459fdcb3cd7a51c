/*
 * frr_caps.so: lets FRR's daemons start in a lab node that was not given CAP_SYS_ADMIN.
 *
 * FRR (lib/privs.c) asks libcap's cap_set_proc() for a fixed set of permitted capabilities at start-up;
 * zebra, ospfd, bgpd, isisd and others include CAP_SYS_ADMIN (used only for netns-based VRFs). A lab node
 * never has CAP_SYS_ADMIN (it would be root over the host), so the kernel refuses the whole request and the
 * daemon exits with "privs_init: initial cap_set_proc failed".
 *
 * Preloaded into the daemons (LD_PRELOAD, set by the node's FRR start command), this cap_set_proc() clears
 * from the requested set every capability the process does not hold in its permitted set (which it could
 * never gain) and then calls libcap's own. It never adds a capability: what the daemons end up with is
 * what they asked for, less what the node was not given.
 *
 * Built at image build time by topology/images.py (the frr recipe) with the host's C compiler; it uses
 * libcap through dlsym so that no libcap headers are needed to build it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>

typedef void *cap_t;
typedef int cap_value_t;

/* The values of libcap's cap_flag_t and cap_flag_value_t (sys/capability.h); stable since libcap 1. */
enum { FLAG_EFFECTIVE = 0, FLAG_PERMITTED = 1, FLAG_INHERITABLE = 2 };
enum { VALUE_CLEAR = 0 };

int cap_set_proc(cap_t wanted)
{
    static int (*real_set_proc)(cap_t);
    static int (*set_flag)(cap_t, int, int, const cap_value_t *, int);
    static int (*get_flag)(cap_t, cap_value_t, int, int *);
    static cap_t (*get_proc)(void);
    static int (*free_cap)(void *);

    if (!real_set_proc) {
        set_flag = (int (*)(cap_t, int, int, const cap_value_t *, int))dlsym(RTLD_NEXT, "cap_set_flag");
        get_flag = (int (*)(cap_t, cap_value_t, int, int *))dlsym(RTLD_NEXT, "cap_get_flag");
        get_proc = (cap_t (*)(void))dlsym(RTLD_NEXT, "cap_get_proc");
        free_cap = (int (*)(void *))dlsym(RTLD_NEXT, "cap_free");
        real_set_proc = (int (*)(cap_t))dlsym(RTLD_NEXT, "cap_set_proc");
    }
    if (!real_set_proc) {
        errno = ENOSYS;
        return -1;
    }
    if (set_flag && get_flag && get_proc && free_cap && wanted) {
        cap_t held = get_proc();
        if (held) {
            for (cap_value_t cap = 0; cap < 64; cap++) {
                int have = 0;
                if (get_flag(held, cap, FLAG_PERMITTED, &have) != 0)
                    break; /* past the last capability libcap knows */
                if (!have) {
                    set_flag(wanted, FLAG_EFFECTIVE, 1, &cap, VALUE_CLEAR);
                    set_flag(wanted, FLAG_PERMITTED, 1, &cap, VALUE_CLEAR);
                    set_flag(wanted, FLAG_INHERITABLE, 1, &cap, VALUE_CLEAR);
                }
            }
            free_cap(held);
        }
    }
    return real_set_proc(wanted);
}
