#pragma once
#include <time.h>

namespace tirai::bench {

// CPU seconds (user and system, all threads, those that ended included) the
// process `pid` has used so far, to the nanosecond, from the kernel's CPU
// clock of that process; 0 when there is no such process. /proc/PID/stat
// counts in ticks of 10 ms, and a smoke run's few hundred messages can cost
// a server less than one: its CPU per message then read 0.
inline double process_cpu_seconds(int pid) {
  clockid_t clock{};
  timespec t{};
  if (pid <= 0 || ::clock_getcpuclockid(pid, &clock) != 0 || ::clock_gettime(clock, &t) != 0) return 0;
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

}  // namespace tirai::bench
