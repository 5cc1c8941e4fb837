// A C++ plugin for hard_dlopen: throws and catches in many shapes (built by test_cxx.py with g++).
// If the guard's libunwind captured _Unwind_RaiseException/_Unwind_Resume, these would misbehave.
#include <cstddef>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>
#include <sys/mman.h>

namespace {

int destroyed = 0;

struct Tracker {
	~Tracker() { destroyed++; }
};

struct Custom {
	int value;
};

int deep(int d)
{
	Tracker t;      // destroyed during unwinding: _Unwind_Resume
	if (d == 0)
		throw std::runtime_error("deep " + std::to_string(d));
	return deep(d - 1) + 1;
}

int rethrow_once(int i)
{
	try {
		throw Custom{ i };
	} catch (Custom &c) {
		c.value++;
		throw;      // rethrow: __cxa_rethrow -> _Unwind_Resume_or_Rethrow
	}
}

}  // namespace

extern "C" int plugin_run(int n)
{
	int caught = 0;
	for (int i = 0; i < n; i++) {
		try {
			deep(i % 7);
		} catch (const std::exception &e) {
			if (std::strncmp(e.what(), "deep", 4) == 0)
				caught++;
		}
		try {
			rethrow_once(i);
		} catch (const Custom &c) {
			if (c.value == i + 1)
				caught++;
		}
		try {
			std::vector<int> v(3);
			(void)v.at(static_cast<std::size_t>(10 + i));
		} catch (const std::out_of_range &) {
			caught++;
		}
	}
	return caught == 3 * n ? caught : -caught - 1;
}

extern "C" int plugin_destroyed(void) { return destroyed; }

// Map from inside a catch handler: the creation stack passes through C++ frames.
extern "C" void *plugin_map(int fd, std::size_t len)
{
	void *p = MAP_FAILED;
	try {
		throw 42;
	} catch (int) {
		p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	}
	return p;
}
