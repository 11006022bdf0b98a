# Installs the build tree into a fresh prefix, builds Examples/SegmentLiver against it with find_package(TorchSeg), and
# runs the example on a small phantom with the shipped model: the README's promise to a C++ user, end to end.
# -DBUILD_DIR -DSOURCE_DIR -DWORK_DIR -DMODEL
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR MODEL)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "${var} is not set")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "failed (${code}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(expected lib/cmake/TorchSeg/TorchSegConfig.cmake include/TorchSeg/torchsegSegmentationFilter.h
                 bin/TorchSegPredict bin/TorchSegPhantom)
  if(NOT EXISTS ${prefix}/${expected})
    message(FATAL_ERROR "the installed package lacks ${expected}")
  endif()
endforeach()

run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/Examples/SegmentLiver -B ${WORK_DIR}/example -G Ninja
  -DCMAKE_BUILD_TYPE=Release -DTorchSeg_DIR=${prefix}/lib/cmake/TorchSeg)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/example)

run(${prefix}/bin/TorchSegPhantom --outputDirectory ${WORK_DIR}/phantom --cases 1 --seed 11 --size 96 --slices 24)
run(${WORK_DIR}/example/SegmentLiver ${WORK_DIR}/phantom/case000_ct.nii.gz ${MODEL} ${WORK_DIR}/labels.nii.gz)
if(NOT EXISTS ${WORK_DIR}/labels.nii.gz)
  message(FATAL_ERROR "SegmentLiver wrote no labels")
endif()
# The installed TorchSegPredict finds the shipped model by itself, beside its own prefix.
run(${prefix}/bin/TorchSegPredict ${WORK_DIR}/phantom/case000_ct.nii.gz ${WORK_DIR}/predict.nii.gz)
message(STATUS "installed package: example built and run")
