// Durable flush of a written file descriptor, for the write-temporary / sync / rename pattern. On
// macOS fsync() only hands the data to the drive, whose cache may still lose it on power loss;
// F_FULLFSYNC asks the drive to flush too (what libuv's fs.fsync does there). Some file systems
// (network, FUSE) refuse F_FULLFSYNC: then plain fsync is the best there is.
#pragma once
#include <fcntl.h>
#include <unistd.h>

namespace splade {

inline int sync_file(int fd) {
#if defined(__APPLE__)
  if (::fcntl(fd, F_FULLFSYNC) == 0) return 0;
#endif
  return ::fsync(fd);
}

}  // namespace splade
