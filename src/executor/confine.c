/* confine: closing stray descriptors and dropping CAP_SYS_PTRACE. See
 * confine.h. */
#include "confine.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"

/* The capability sets have no wrapper in glibc; libcap would be a new
 * dependency for two system calls. */
static int drop_ptrace(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    unsigned word = CAP_TO_INDEX(CAP_SYS_PTRACE);
    __u32 bit = CAP_TO_MASK(CAP_SYS_PTRACE);

    if (prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) != 0 && errno != EPERM && errno != EINVAL)
        return -1;
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0)
        return -1;
    if (!((data[word].effective | data[word].permitted | data[word].inheritable) & bit))
        return 0;
    data[word].effective &= ~bit;
    data[word].permitted &= ~bit;
    data[word].inheritable &= ~bit;
    return syscall(SYS_capset, &hdr, data) == 0 ? 0 : -1;
}

int confine_user(int uid, int gid)
{
    gid_t g = (gid_t)gid;

    if (setgroups(1, &g) != 0 || setgid(g) != 0 || setuid((uid_t)uid) != 0) {
        log_error("cannot run as uid %d, gid %d: %s", uid, gid, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) { /* it must not be able to come back */
        log_error("still able to become root after dropping to uid %d", uid);
        return -1;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    return 0;
}

int confine(void)
{
    if (close_range(FRAME_LOG_FD + 1, ~0U, 0) != 0) {
        log_error("cannot close inherited descriptors: %s", strerror(errno));
        return -1;
    }
    if (drop_ptrace() != 0) {
        log_error("cannot give up CAP_SYS_PTRACE: %s", strerror(errno));
        return -1;
    }
    return 0;
}
