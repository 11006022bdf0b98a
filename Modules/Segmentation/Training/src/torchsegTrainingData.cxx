#include "torchsegTrainingData.h"

#include "torchsegAtomicOutput.h"
#include "torchsegListFile.h"

#include "itkImageRegionConstIterator.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace torchseg
{

namespace
{

// A case file name without its extension, for directory scans: "case000_ct.nii.gz" -> "case000_ct".
bool
SplitImageName(const fs::directory_entry & entry, std::string & stem)
{
  const std::string name = entry.path().filename().string();
  std::error_code   ec;
  if (entry.is_directory(ec))
  {
    stem = name;
    return true;
  }
  const std::string ext = GetFullExtension(entry.path());
  const auto &      supported = GetSupportedImageExtensions();
  std::string       lower = ext;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext.empty() || std::find(supported.begin(), supported.end(), lower) == supported.end())
  {
    return false;
  }
  stem = name.substr(0, name.size() - ext.size());
  return true;
}

bool
EndsWith(const std::string & s, const std::string & suffix)
{
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

std::vector<CaseFiles>
ReadCaseList(const std::string & listFile)
{
  std::vector<CaseFiles> cases;
  for (auto & entry : ReadListFile(listFile, "case list", "image", "label"))
  {
    cases.push_back({ std::move(entry.first), std::move(entry.second) });
  }
  return cases;
}

std::vector<CaseFiles>
FindCasePairs(const std::string & directory)
{
  std::error_code ec;
  if (!fs::is_directory(directory, ec))
  {
    itkGenericExceptionMacro(<< "Case directory " << directory << " does not exist");
  }
  std::map<std::string, std::string> images, labels;
  for (const auto & entry : fs::directory_iterator(directory, ec))
  {
    std::string stem;
    if (!SplitImageName(entry, stem))
    {
      continue;
    }
    if (EndsWith(stem, "_ct"))
    {
      images[stem.substr(0, stem.size() - 3)] = entry.path().string();
    }
    else if (EndsWith(stem, "_label") && !entry.is_directory(ec))
    {
      labels[stem.substr(0, stem.size() - 6)] = entry.path().string();
    }
  }
  std::vector<CaseFiles> cases;
  for (const auto & [name, image] : images)
  {
    const auto label = labels.find(name);
    if (label == labels.end())
    {
      itkGenericExceptionMacro(<< "Case directory " << directory << ": " << fs::path(image).filename().string()
                               << " has no " << name << "_label image beside it");
    }
    cases.push_back({ image, label->second });
  }
  if (cases.empty())
  {
    itkGenericExceptionMacro(<< "Case directory " << directory << " holds no <name>_ct / <name>_label image pair");
  }
  return cases;
}

std::vector<CaseFiles>
ReadCases(const std::string & listFileOrDirectory)
{
  std::error_code ec;
  if (fs::is_directory(listFileOrDirectory, ec))
  {
    return FindCasePairs(listFileOrDirectory);
  }
  return ReadCaseList(listFileOrDirectory);
}

void
CheckSameGeometry(const itk::ImageBase<3> * image, const itk::ImageBase<3> * labels, const std::string & imagePath,
                  const std::string & labelPath)
{
  const auto         imageSize = image->GetLargestPossibleRegion().GetSize();
  const auto         labelSize = labels->GetLargestPossibleRegion().GetSize();
  std::ostringstream problem;
  if (imageSize != labelSize)
  {
    problem << "size " << imageSize << " vs " << labelSize;
  }
  else
  {
    for (unsigned int d = 0; d < 3 && problem.str().empty(); ++d)
    {
      const double s = image->GetSpacing()[d];
      if (std::abs(s - labels->GetSpacing()[d]) > 1e-3 * s)
      {
        problem << "spacing " << image->GetSpacing() << " vs " << labels->GetSpacing();
      }
      else if (std::abs(image->GetOrigin()[d] - labels->GetOrigin()[d]) > 1e-3 * s)
      {
        problem << "origin " << image->GetOrigin() << " vs " << labels->GetOrigin();
      }
      for (unsigned int e = 0; e < 3 && problem.str().empty(); ++e)
      {
        if (std::abs(image->GetDirection()(d, e) - labels->GetDirection()(d, e)) > 1e-4)
        {
          problem << "direction differs";
        }
      }
    }
  }
  if (!problem.str().empty())
  {
    itkGenericExceptionMacro(<< "Label image " << labelPath << " does not match the grid of " << imagePath << ": "
                             << problem.str());
  }
}

std::vector<double>
CountLabelVoxels(const LabelImageType * labels, unsigned int numberOfClasses, const std::string & path)
{
  std::vector<uint64_t> counts(256, 0);
  const auto *          buffer = labels->GetBufferPointer();
  const std::size_t     n = labels->GetBufferedRegion().GetNumberOfPixels();
  for (std::size_t i = 0; i < n; ++i)
  {
    ++counts[buffer[i]];
  }
  for (unsigned int v = numberOfClasses; v < 256; ++v)
  {
    if (counts[v] > 0)
    {
      itkGenericExceptionMacro(<< "Label image " << path << " holds the value " << v << " (" << counts[v]
                               << " voxels), outside the declared classes 0.." << numberOfClasses - 1);
    }
  }
  return std::vector<double>(counts.begin(), counts.begin() + numberOfClasses);
}

ForegroundIntensityStatistics::ForegroundIntensityStatistics()
  : m_Histogram(static_cast<std::size_t>((HistogramMaximum - HistogramMinimum) / BinWidth) + 1, 0)
{}

void
ForegroundIntensityStatistics::Add(const CTImageType * image, const LabelImageType * labels)
{
  uint64_t key = 0;
  {
    std::lock_guard<std::mutex> lock(m_Mutex);
    key = m_Moments.empty() ? 0 : m_Moments.rbegin()->first + 1;
  }
  this->Add(image, labels, key);
}

void
ForegroundIntensityStatistics::Add(const CTImageType * image, const LabelImageType * labels, uint64_t key)
{
  if (image->GetBufferedRegion() != labels->GetBufferedRegion())
  {
    itkExceptionMacro(<< "image region " << image->GetBufferedRegion().GetSize() << " and label region "
                      << labels->GetBufferedRegion().GetSize() << " differ");
  }
  // A local pass (Welford), stored under the lock, so cases loaded in parallel threads can add at once.
  Moments               moments;
  const float *         v = image->GetBufferPointer();
  const uint8_t *       l = labels->GetBufferPointer();
  const std::size_t     n = image->GetBufferedRegion().GetNumberOfPixels();
  std::vector<uint64_t> histogram(m_Histogram.size(), 0);
  const double          last = static_cast<double>(m_Histogram.size() - 1);
  for (std::size_t i = 0; i < n; ++i)
  {
    if (l[i] == 0)
    {
      continue;
    }
    const double x = v[i];
    ++moments.count;
    const double delta = x - moments.mean;
    moments.mean += delta / static_cast<double>(moments.count);
    moments.sumOfSquaredDeviations += delta * (x - moments.mean);
    const double bin = std::min(last, std::max(0.0, std::round((x - HistogramMinimum) / BinWidth)));
    ++histogram[static_cast<std::size_t>(bin)];
  }
  std::lock_guard<std::mutex> lock(m_Mutex);
  if (!m_Moments.emplace(key, moments).second)
  {
    itkExceptionMacro(<< "an image was already added with the key " << key);
  }
  for (std::size_t b = 0; b < histogram.size(); ++b)
  {
    m_Histogram[b] += histogram[b];
  }
  this->Modified();
}

ForegroundIntensityStatistics::Moments
ForegroundIntensityStatistics::MergedMoments() const
{
  // Chan et al.'s pairwise merge of (count, mean, M2), in key order. Called with the lock held.
  Moments merged;
  for (const auto & item : m_Moments)
  {
    const Moments & m = item.second;
    if (m.count == 0)
    {
      continue;
    }
    const double na = static_cast<double>(merged.count), nb = static_cast<double>(m.count);
    const double total = na + nb;
    const double delta = m.mean - merged.mean;
    merged.mean += delta * nb / total;
    merged.sumOfSquaredDeviations += m.sumOfSquaredDeviations + delta * delta * na * nb / total;
    merged.count += m.count;
  }
  return merged;
}

std::size_t
ForegroundIntensityStatistics::GetNumberOfVoxels() const
{
  std::lock_guard<std::mutex> lock(m_Mutex);
  return this->MergedMoments().count;
}

double
ForegroundIntensityStatistics::GetMean() const
{
  std::lock_guard<std::mutex> lock(m_Mutex);
  return this->MergedMoments().mean;
}

double
ForegroundIntensityStatistics::GetStandardDeviation() const
{
  std::lock_guard<std::mutex> lock(m_Mutex);
  // Population standard deviation, as numpy.std (nnU-Net).
  const Moments m = this->MergedMoments();
  return m.count ? std::sqrt(m.sumOfSquaredDeviations / static_cast<double>(m.count)) : 0.0;
}

double
ForegroundIntensityStatistics::GetQuantile(double q) const
{
  std::lock_guard<std::mutex> lock(m_Mutex);
  const uint64_t              count = this->MergedMoments().count;
  if (count == 0)
  {
    itkExceptionMacro(<< "no foreground voxel was added");
  }
  q = std::min(1.0, std::max(0.0, q));
  // numpy's linear method: the value at fractional rank q * (n - 1) between the order statistics around it.
  const double rank = q * static_cast<double>(count - 1);
  const auto   lower = static_cast<uint64_t>(std::floor(rank));
  const double fraction = rank - static_cast<double>(lower);
  auto         valueAt = [this](uint64_t r) {
    uint64_t seen = 0;
    for (std::size_t b = 0; b < m_Histogram.size(); ++b)
    {
      seen += m_Histogram[b];
      if (seen > r)
      {
        return HistogramMinimum + BinWidth * static_cast<double>(b);
      }
    }
    return HistogramMaximum;
  };
  const double a = valueAt(lower);
  const double b = fraction > 0.0 ? valueAt(lower + 1) : a;
  return a + fraction * (b - a);
}

IntensityNormalization
ForegroundIntensityStatistics::ComputeNormalization(const std::string & method, double windowLow,
                                                    double windowHigh) const
{
  IntensityNormalization n;
  n.method = method;
  if (method == "window")
  {
    if (!(windowHigh > windowLow))
    {
      itkExceptionMacro(<< "Intensity window [" << windowLow << ", " << windowHigh << "] is empty");
    }
    n.clipLow = windowLow;
    n.clipHigh = windowHigh;
    n.mean = 0.0;
    n.std = 1.0;
    return n;
  }
  if (method != "zscore")
  {
    itkExceptionMacro(<< "Intensity normalisation \"" << method << "\" is not one of zscore, window");
  }
  if (this->GetNumberOfVoxels() == 0)
  {
    itkExceptionMacro(<< "The training labels hold no foreground voxel: the CT normalisation needs some");
  }
  n.clipLow = this->GetQuantile(0.005);
  n.clipHigh = this->GetQuantile(0.995);
  n.mean = this->GetMean();
  n.std = std::max(1e-8, this->GetStandardDeviation());
  return n;
}

void
ForegroundIntensityStatistics::PrintSelf(std::ostream & os, itk::Indent indent) const
{
  Superclass::PrintSelf(os, indent);
  std::lock_guard<std::mutex> lock(m_Mutex);
  os << indent << "Histogram: " << m_Histogram.size() << " bins of " << BinWidth << " HU from " << HistogramMinimum
     << std::endl;
  const Moments m = this->MergedMoments();
  os << indent << "Images: " << m_Moments.size() << std::endl;
  os << indent << "Count: " << m.count << std::endl;
  os << indent << "Mean: " << m.mean << std::endl;
  os << indent << "SumOfSquaredDeviations: " << m.sumOfSquaredDeviations << std::endl;
}

} // namespace torchseg
