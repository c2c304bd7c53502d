// Temporary names for atomic writes (write, fsync, rename over the target), and the removal of the
// ones a killed writer left behind. The one pattern, shared with lib/data/atomic.ts:
//   <dir>/.<name>.<pid>.<12 hex digits>.tmp   for the target <dir>/<name>
// so a leftover names its target and the process that wrote it: a leftover whose process is gone
// (kill -9 or a crash between create and rename) is removed by the next save or open of the target.
#pragma once
#include <string>

namespace splade {

// A fresh temporary path beside `path` for this process.
std::string temp_path_for(const std::string& path);

// Removes `path`'s temporaries whose writer process no longer exists; never fails (a directory that
// cannot be listed or a file that cannot be removed is left as it is). Returns how many it removed.
int remove_stale_temps(const std::string& path);

}  // namespace splade
