#include "temp_file.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cctype>
#include <cstdlib>
#include <random>

namespace splade {
namespace {

// dir (never empty) and file name of path.
void split(const std::string& path, std::string* dir, std::string* name) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *name = path;
  } else {
    *dir = slash == 0 ? "/" : path.substr(0, slash);
    *name = path.substr(slash + 1);
  }
}

// The writer pid of `entry` when it is one of `name`'s temporaries (".<name>.<pid>.<12 hex>.tmp"), else 0.
long temp_owner(const std::string& entry, const std::string& name) {
  const std::string prefix = "." + name + ".", suffix = ".tmp";
  if (entry.size() <= prefix.size() + suffix.size() || entry.compare(0, prefix.size(), prefix) != 0 ||
      entry.compare(entry.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return 0;
  }
  const std::string mid = entry.substr(prefix.size(), entry.size() - prefix.size() - suffix.size());  // <pid>.<hex>
  const size_t dot = mid.find('.');
  if (dot == 0 || dot == std::string::npos || mid.size() - dot - 1 != 12) return 0;
  for (size_t i = 0; i < dot; ++i) if (mid[i] < '0' || mid[i] > '9') return 0;
  for (size_t i = dot + 1; i < mid.size(); ++i) if (!std::isxdigit(static_cast<unsigned char>(mid[i]))) return 0;
  if (dot > 9) return 0;
  return std::strtol(mid.substr(0, dot).c_str(), nullptr, 10);
}

}  // namespace

std::string temp_path_for(const std::string& path) {
  std::string dir, name;
  split(path, &dir, &name);
  std::random_device rd;
  const unsigned long long r = (static_cast<unsigned long long>(rd()) << 32 | rd()) & 0xffffffffffffULL;
  char hex[13];
  std::snprintf(hex, sizeof hex, "%012llx", r);
  return dir + "/." + name + "." + std::to_string(getpid()) + "." + hex + ".tmp";
}

int remove_stale_temps(const std::string& path) {
  std::string dir, name;
  split(path, &dir, &name);
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  int removed = 0;
  while (dirent* e = readdir(d)) {
    const long pid = temp_owner(e->d_name, name);
    if (pid <= 0 || pid == getpid()) continue;                 // not a temporary of path, or one of ours in flight
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) continue;  // its writer is still running
    if (unlinkat(dirfd(d), e->d_name, 0) == 0) ++removed;
  }
  closedir(d);
  return removed;
}

}  // namespace splade
